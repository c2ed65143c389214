"""Pictures and video for the model: files converted within the service's limits (``images``),
frames sent only when the scene changed (``vision``), and the camera (``camera``)."""
