"""Pure analysis of frames: polars frames in, plain results out. No I/O, no printing, no UI."""
