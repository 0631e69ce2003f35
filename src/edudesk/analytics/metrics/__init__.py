"""One module per dashboard (people, data, process, outcome), the drill-down lists and the live wall."""
