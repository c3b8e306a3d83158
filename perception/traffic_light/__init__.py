"""Traffic-light recognition: map-based regions of interest, crops classified by a ViT."""
