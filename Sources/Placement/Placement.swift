// Pure placement: a view of the cluster in, plans out (see DESIGN.md, "Placement and instances").
