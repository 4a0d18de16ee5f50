package pytorch

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// Python returns the path of a python3 that can import torch.distributed
// with gloo: $RINGTRAIN_GLOO_PYTHON if set, else Debian's /usr/bin/python3
// (which python3-torch installs into, and which an earlier python3 in PATH,
// a pyenv one say, does not see), else python3 from PATH.
func Python() (string, error) {
	candidates := []string{"/usr/bin/python3", "python3"}
	if p := os.Getenv("RINGTRAIN_GLOO_PYTHON"); p != "" {
		candidates = []string{p}
	}
	var errs []error
	for _, py := range candidates {
		out, err := exec.Command(py, "-c", "import torch.distributed as d; assert d.is_gloo_available()").CombinedOutput()
		if err == nil {
			return py, nil
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		errs = append(errs, fmt.Errorf("%s: %v: %s", py, err, lines[len(lines)-1]))
	}
	return "", fmt.Errorf("no PyTorch with gloo (apt-get install python3-torch): %w", errors.Join(errs...))
}
