package main

// int80 makes system call trap through the i386 gate; see syscall_amd64.s.
func int80(trap uintptr) (r uintptr)

const haveInt80 = true
