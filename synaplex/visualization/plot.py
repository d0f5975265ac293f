"""plot_program: a program's graph as Graphviz DOT, rendered to PNG when ``dot`` is installed."""
