"""Management dashboards: roll-ups kept by jobs, the four dashboards (people, data, process, outcome), drill-down
lists, exports and the e-mailed summary. A read model over the other areas; nothing below it imports it."""
