"""The demo utility's data set (``make demo``)."""
