module weft-bench-json-go

go 1.22
