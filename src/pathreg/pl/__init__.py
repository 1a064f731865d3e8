"""pathreg.pl."""
