// Package netaddr works out the address a process should advertise to its
// peers when it listens on every interface, as in a container where the
// listen address is ":7071" and peers must dial the container's own IP.
//
// It only looks at this host's names and interfaces; it does not probe the
// network.
package netaddr
