package main

import (
	"flag"
	"strconv"
)

// e2eParallel is how many end-to-end tests run at once unless -parallel
// says otherwise. Go's default (GOMAXPROCS, 2 on the project's machine)
// suits tests that compute; these mostly wait: on sipp's scenarios, on
// speech played in real time, on a server process starting. Each one owns
// its server, data directory and ports, so several share two cores.
// scripts/test.sh runs most of them beside the other packages' tests, and
// those that judge real time (audio heard, a proxy's failover) afterwards,
// alone. At four at a time beside the others, a warm transfer's voicemail
// test once heard too little of the box's greeting.
const e2eParallel = 3

// defaultParallel raises -parallel to e2eParallel when the command line
// did not set it; flags must be parsed.
func defaultParallel() {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		flag.Set("test.parallel", strconv.Itoa(e2eParallel))
	}
}
