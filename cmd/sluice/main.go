// Command sluice runs sluice's demo: a simulated rate-limited provider and a
// workload sent through a plain http.Client and through sluice, side by side.
package main

import (
	"fmt"
	"io"
	"os"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "demo" {
		fmt.Fprintln(stderr, "usage: sluice demo")
		return 2
	}
	fmt.Fprintln(stdout, "sluice demo: will start a simulated rate-limited provider on loopback and run one workload")
	fmt.Fprintln(stdout, "through a plain http.Client and through sluice, then compare 429s, failures and wall time.")
	return 0
}
