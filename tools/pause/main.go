// pause is the sandbox ("infra") container of every pod weft's CRI tests run:
// it holds the pod's namespaces open and does nothing else until the runtime
// stops it. Like Kubernetes' own pause, it runs as PID 1 of the pod, where the
// kernel drops any signal without a handler, so it must catch SIGTERM and
// SIGINT itself, and it reaps children that exit in its PID namespace.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for sig := range signals {
		if sig != syscall.SIGCHLD {
			return
		}
		reap()
	}
}

// reap collects every exited child; one SIGCHLD may stand for several.
func reap() {
	for {
		var status syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}
