package k8s

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	sigsyaml "sigs.k8s.io/yaml"
)

// manifests decodes every document of every *.yaml here, strictly: an
// unknown or misspelt field fails, as `kubectl apply --validate=strict`
// would.
type manifests struct {
	deployments  map[string]*appsv1.Deployment
	statefulSets map[string]*appsv1.StatefulSet
	services     map[string]*corev1.Service
	claims       map[string]*corev1.PersistentVolumeClaim
}

func load(t *testing.T) *manifests {
	t.Helper()
	m := &manifests{map[string]*appsv1.Deployment{}, map[string]*appsv1.StatefulSet{}, map[string]*corev1.Service{}, map[string]*corev1.PersistentVolumeClaim{}}
	files, err := filepath.Glob("*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests (%v)", err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range strings.Split(string(b), "\n---\n") {
			var head struct{ Kind, APIVersion string }
			if err := sigsyaml.Unmarshal([]byte(doc), &head); err != nil {
				t.Fatalf("%s document %d: %v", f, i+1, err)
			}
			var obj interface{ GetName() string }
			switch head.APIVersion + " " + head.Kind {
			case "apps/v1 Deployment":
				obj = &appsv1.Deployment{}
			case "apps/v1 StatefulSet":
				obj = &appsv1.StatefulSet{}
			case "v1 Service":
				obj = &corev1.Service{}
			case "v1 PersistentVolumeClaim":
				obj = &corev1.PersistentVolumeClaim{}
			default:
				t.Fatalf("%s document %d: unexpected %s %s", f, i+1, head.APIVersion, head.Kind)
			}
			if err := sigsyaml.UnmarshalStrict([]byte(doc), obj); err != nil {
				t.Fatalf("%s document %d (%s): %v", f, i+1, head.Kind, err)
			}
			switch o := obj.(type) {
			case *appsv1.Deployment:
				m.deployments[o.Name] = o
			case *appsv1.StatefulSet:
				m.statefulSets[o.Name] = o
			case *corev1.Service:
				m.services[o.Name] = o
			case *corev1.PersistentVolumeClaim:
				m.claims[o.Name] = o
			}
		}
	}
	return m
}

// composeService is what the test reads of a compose service.
type composeService struct {
	Image       string            `yaml:"image"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Ports       []string          `yaml:"ports"`
	Healthcheck struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
}

func loadCompose(t *testing.T) map[string]composeService {
	t.Helper()
	b, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Services map[string]composeService `yaml:"services"`
	}
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c.Services
}

// defaults replaces compose's ${VAR:-default} by its default.
var defaultRE = regexp.MustCompile(`\$\{[A-Z_]+:-([^}]*)\}`)

func defaults(s string) string { return defaultRE.ReplaceAllString(s, "$1") }

func container(t *testing.T, spec corev1.PodSpec, name string) corev1.Container {
	t.Helper()
	for _, c := range spec.Containers {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no container %s", name)
	return corev1.Container{}
}

// TestManifestsMatchCompose: the Kubernetes workloads run what compose runs.
func TestManifestsMatchCompose(t *testing.T) {
	m, compose := load(t), loadCompose(t)
	pods := map[string]corev1.PodSpec{}
	for _, name := range []string{"coordinator", "worker"} {
		d, ok := m.deployments[name]
		if !ok {
			t.Fatalf("no Deployment %s", name)
		}
		if !labelsMatch(d.Spec.Selector.MatchLabels, d.Spec.Template.Labels) {
			t.Errorf("Deployment %s: selector %v does not select its pods %v", name, d.Spec.Selector.MatchLabels, d.Spec.Template.Labels)
		}
		pods[name] = d.Spec.Template.Spec
	}
	ss, ok := m.statefulSets["etcd"]
	if !ok {
		t.Fatal("no StatefulSet etcd")
	}
	if ss.Spec.Replicas == nil || *ss.Spec.Replicas != 3 {
		t.Errorf("etcd: %v replicas, want 3", ss.Spec.Replicas)
	}
	pods["etcd"] = ss.Spec.Template.Spec

	for name, pod := range pods {
		cs, ok := compose[name]
		if !ok {
			t.Fatalf("compose has no service %s", name)
		}
		c := container(t, pod, name)
		if want := defaults(cs.Image); c.Image != want {
			t.Errorf("%s: image %q, compose runs %q", name, c.Image, want)
		}
		// Every compose variable, with the same value.
		env := map[string]string{}
		for _, e := range c.Env {
			env[e.Name] = e.Value
		}
		for k, v := range cs.Environment {
			if got, ok := env[k]; !ok || got != defaults(v) {
				t.Errorf("%s: env %s = %q, compose has %q", name, k, got, defaults(v))
			}
		}
		// Every compose flag; Kubernetes may add some (the pod IP). etcd's
		// members are named for the StatefulSet's pods: its flags must be
		// there, their values may differ, but for the TLS files.
		args := append(append([]string(nil), c.Command...), c.Args...)
		for _, f := range cs.Command {
			f = defaults(f)
			flag, _, _ := strings.Cut(f, "=")
			topology := name == "etcd" && !strings.Contains(f, "/certs/")
			if !slices.Contains(args, f) && !(topology && slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, flag+"=") })) {
				t.Errorf("%s: compose passes %q, the manifest does not (%v)", name, f, args)
			}
		}
		// A port it listens on is a port it declares.
		declared := map[int32]bool{}
		for _, p := range c.Ports {
			declared[p.ContainerPort] = true
		}
		for _, a := range args {
			if port, ok := listenPort(a); ok && !declared[port] {
				t.Errorf("%s: listens on %d (%s), declares %v", name, port, a, c.Ports)
			}
		}
		for _, p := range cs.Ports {
			port, _ := strconv.Atoi(p[strings.LastIndex(p, ":")+1:])
			if !declared[int32(port)] {
				t.Errorf("%s: compose publishes %d, the manifest does not declare it", name, port)
			}
		}
		// The probe is compose's health check.
		if c.ReadinessProbe == nil || c.ReadinessProbe.Exec == nil {
			t.Errorf("%s: no exec readiness probe", name)
		} else if want := cs.Healthcheck.Test[1:]; !slices.Equal(c.ReadinessProbe.Exec.Command, want) {
			t.Errorf("%s: probe %v, compose's health check %v", name, c.ReadinessProbe.Exec.Command, want)
		}
		// Every volume mounted exists in the pod.
		for _, vm := range c.VolumeMounts {
			if !slices.ContainsFunc(pod.Volumes, func(v corev1.Volume) bool { return v.Name == vm.Name }) &&
				!slices.ContainsFunc(ss.Spec.VolumeClaimTemplates, func(p corev1.PersistentVolumeClaim) bool { return name == "etcd" && p.Name == vm.Name }) {
				t.Errorf("%s: mounts volume %s, which the pod does not have", name, vm.Name)
			}
		}
	}

	// The Services reach their pods on the ports the pods declare.
	for name, pod := range map[string]string{"coordinator": "coordinator", "etcd": "etcd", "etcd-peer": "etcd"} {
		svc, ok := m.services[name]
		if !ok {
			t.Fatalf("no Service %s", name)
		}
		c := container(t, pods[pod], pod)
		for _, p := range svc.Spec.Ports {
			if !slices.ContainsFunc(c.Ports, func(cp corev1.ContainerPort) bool { return cp.ContainerPort == p.Port }) {
				t.Errorf("Service %s: port %d is not one %s declares", name, p.Port, pod)
			}
		}
	}
	if _, ok := m.claims["ringtrain-coordinator"]; !ok {
		t.Error("no PersistentVolumeClaim for the coordinator's data")
	}
	// Workers take their advertised addresses from the downward API.
	w := container(t, pods["worker"], "worker")
	if !slices.ContainsFunc(w.Env, func(e corev1.EnvVar) bool {
		return e.Name == "POD_IP" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "status.podIP"
	}) || !slices.Contains(w.Args, "--advertise=$(POD_IP):7071") {
		t.Errorf("worker: does not advertise its pod IP: env %v args %v", w.Env, w.Args)
	}
}

// listenPort returns the port of a --listen, --ring-listen or
// --metrics-listen argument.
func listenPort(arg string) (int32, bool) {
	name, v, ok := strings.Cut(arg, "=")
	if !ok || !strings.HasSuffix(name, "listen") || !strings.HasPrefix(name, "--") {
		return 0, false
	}
	p, err := strconv.Atoi(v[strings.LastIndex(v, ":")+1:])
	return int32(p), err == nil
}

func labelsMatch(selector, labels map[string]string) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return len(selector) > 0
}

// TestStrictDecodingCatchesTypos: the decoding above would fail a manifest
// with a misspelt field.
func TestStrictDecodingCatchesTypos(t *testing.T) {
	b, err := os.ReadFile("worker.yaml")
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(b), "readinessProbe:", "readinesProbe:", 1)
	if err := sigsyaml.UnmarshalStrict([]byte(bad), &appsv1.Deployment{}); err == nil {
		t.Error("a misspelt field, readinesProbe, decoded")
	}
}
