"""The `tropesearch` command line: parse, build, info, search, similar, serve, eval."""
