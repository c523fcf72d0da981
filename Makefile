bench:
	go run ./bench

bench-quick:
	go run ./bench -quick

.PHONY: bench bench-quick
