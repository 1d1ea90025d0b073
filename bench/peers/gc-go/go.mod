module weft-bench-gc-go

go 1.22
