"""pathreg.tl."""
