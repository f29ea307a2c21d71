package main

import (
	"fmt"

	"strconv"
	"syscall"
	"time"
)

// rawSocket tries to open a raw ICMP socket (what ping needs, and what
// CAP_NET_RAW guards) and prints "raw socket: ok" or the error.
func rawSocket() {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_RAW, syscall.IPPROTO_ICMP)
	if err != nil {
		fmt.Printf("raw socket: %v\n", err)
		return
	}
	syscall.Close(fd)
	fmt.Println("raw socket: ok")
}

// alloc allocates and touches mib MiB, one MiB every step, printing the
// total as it goes, then sleeps forever holding it.
func alloc(mib int, step time.Duration) {
	var held [][]byte
	for i := 1; i <= mib; i++ {
		b := make([]byte, 1<<20)
		for j := range b {
			b[j] = byte(j)
		}
		held = append(held, b)
		fmt.Printf("allocated %d MiB\n", i)
		time.Sleep(step)
	}
	for {
		// Not select{}: with no other goroutine the runtime would call
		// that a deadlock and exit.
		time.Sleep(time.Hour)
		_ = held
	}
}

func allocArgs(args []string) {
	need(args, 1)
	mib, err := strconv.Atoi(args[0])
	check(err)
	step := 20 * time.Millisecond
	if len(args) > 1 {
		step, err = time.ParseDuration(args[1])
		check(err)
	}
	alloc(mib, step)
}
