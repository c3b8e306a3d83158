"""Perception: camera detector, lidar obstacles, tracking, localization, mapping.

``perception.geometry`` (Pose2D, yaw/quaternion helpers, RigidTransform), ``perception.objects``
(Label, ObjectArray and their Autoware message conversions) and ``perception.tf`` (the static
transform tree, the frame check) are the algorithm-free types planning and tools share with
perception. They stay here, with their producer: planning ranks above perception and reads them
as it reads perception's messages, the runtime (``stack``) never needs them, and they import
nothing of perception's algorithms. Moving them down into ``stack`` would put driving-domain types
(object classes, Autoware object layouts) into a runtime layer that has no use for them, and would
remove no upward import.
"""
