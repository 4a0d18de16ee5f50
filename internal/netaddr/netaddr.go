package netaddr

import (
	"fmt"
	"net"
	"os"
)

// Advertise returns the address peers should dial to reach a listener
// bound to bound (as net.Listener.Addr().String() gives it). A bound host
// that is a specific address is kept; an unspecified one (0.0.0.0, ::) is
// replaced by this host's first non-loopback IPv4 address, found through
// its hostname and then its interfaces.
func Advertise(bound string) (string, error) {
	host, port, err := net.SplitHostPort(bound)
	if err != nil {
		return "", fmt.Errorf("advertise address of %q: %w", bound, err)
	}
	if ip := net.ParseIP(host); host != "" && ip != nil && !ip.IsUnspecified() {
		return bound, nil
	}
	ip, err := hostIP()
	if err != nil {
		return "", fmt.Errorf("advertise address of %q: %w (set --advertise)", bound, err)
	}
	return net.JoinHostPort(ip, port), nil
}

func hostIP() (string, error) {
	if name, err := os.Hostname(); err == nil {
		if ips, err := net.LookupIP(name); err == nil {
			for _, ip := range ips {
				if v4 := ip.To4(); v4 != nil && !v4.IsLoopback() {
					return v4.String(), nil
				}
			}
		}
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return "", err
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if v4 := n.IP.To4(); v4 != nil && !v4.IsLoopback() {
				return v4.String(), nil
			}
		}
	}
	return "", fmt.Errorf("no non-loopback IPv4 address")
}
