module weft-bench-binsearch-go

go 1.23
