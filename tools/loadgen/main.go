// Command loadgen measures Faultline's ingest and processing under load and
// writes the figures to BENCHMARKS.md. `make bench` runs it.
//
//	loadgen bench [-out BENCHMARKS.md] [-burst 1000000] ...  the whole benchmark
//	loadgen bare -addr 127.0.0.1:9999                         the baseline server
//	loadgen run -url URL -rate 5000 -duration 10s            ad-hoc load
//	loadgen fill -dir D -events N; loadgen drain -dir D       the workers alone
//	loadgen allinone [-full 60s] [-half 60s] [-shape large]   ingest with the workers running
//	loadgen scale -events N -workers 1,2,4                   1, 2, 4 worker processes on a ClickHouse server
//
// Faultline and the baseline run as separate processes on this machine, and
// so does the load generator: on a 2-core machine they share the cores,
// which is why throughput is reported as a ratio of the baseline measured
// in the same run.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: loadgen bench|allinone|alertlatency|bare|run|fill|drain|scale [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "bench":
		err = benchCmd(os.Args[2:])
	case "allinone":
		err = allInOneCmd(os.Args[2:])
	case "alertlatency":
		err = alertLatencyCmd(os.Args[2:])
	case "fill":
		err = fillCmd(os.Args[2:])
	case "drain":
		err = drainCmd(os.Args[2:])
	case "scale":
		err = scaleCmd(os.Args[2:])
	case "bare":
		fs := flag.NewFlagSet("bare", flag.ExitOnError)
		addr := fs.String("addr", "127.0.0.1:9999", "listen address")
		fs.Parse(os.Args[2:]) //nolint:errcheck
		if _, err = bareServer(*addr); err == nil {
			sig := make(chan os.Signal, 1)
			signal.Notify(sig, os.Interrupt)
			<-sig
		}
	case "run":
		fs := flag.NewFlagSet("run", flag.ExitOnError)
		url := fs.String("url", "", "envelope URL with ?sentry_key=")
		rate := fs.Float64("rate", 0, "requests per second (0: as fast as possible)")
		dur := fs.Duration("duration", 10*time.Second, "how long")
		conc := fs.Int("c", 64, "connections")
		sh := fs.String("shape", "large", "typical, large, deep or small")
		fs.Parse(os.Args[2:]) //nolint:errcheck
		g := newGenerator(shapes[*sh], 200)
		var r *result
		if *rate > 0 {
			r = runRate(target{*url}, g, *rate, *dur, *conc)
		} else {
			r = runMax(target{*url}, g, *conc, *dur, 0)
		}
		fmt.Println(r)
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}
