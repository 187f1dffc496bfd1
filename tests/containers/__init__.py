"""make test-containers: the image and the compose stack, for real, under Podman."""
