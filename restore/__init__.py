"""restore: reconstruction of sharp images from defocused spike streams."""
