module weft-bench-health-go

go 1.23
