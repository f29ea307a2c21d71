package dirs

import (
	"fmt"
	"os"
	"syscall"
)

func checkOwned(path string, st os.FileInfo) error {
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	// Inside podbox's own user namespace the owner shows as 0 (mapped to us).
	if int(sys.Uid) != os.Getuid() {
		return fmt.Errorf("%s belongs to uid %d, not to you (uid %d): remove it or set XDG_RUNTIME_DIR", path, sys.Uid, os.Getuid())
	}
	return nil
}
