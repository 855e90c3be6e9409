"""Context priors: camera ego-motion (affine) and occlusion order."""
