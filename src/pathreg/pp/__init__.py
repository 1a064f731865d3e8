"""pathreg.pp."""
