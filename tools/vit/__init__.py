"""The traffic-light ViT: crops from scenarios, SPViT-style token pruning, ONNX variants."""
