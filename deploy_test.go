package switchboard

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
)

// TestComposeFile loads docker-compose.yml with the compose-spec loader
// (there is no Docker engine on the build machines) and checks what
// "docker compose up --scale worker=3" needs.
func TestComposeFile(t *testing.T) {
	opts, err := cli.NewProjectOptions([]string{"docker-compose.yml"}, cli.WithName("switchboard"), cli.WithWorkingDirectory("."))
	if err != nil {
		t.Fatal(err)
	}
	p, err := cli.ProjectFromOptions(context.Background(), opts)
	if err != nil {
		t.Fatalf("load docker-compose.yml: %v", err)
	}
	for _, name := range []string{"nats", "gateway", "worker"} {
		if _, ok := p.Services[name]; !ok {
			t.Fatalf("service %s missing", name)
		}
	}
	if img := p.Services["nats"].Image; !strings.HasPrefix(img, "nats:") {
		t.Errorf("nats image %q, want the official nats image", img)
	}
	// NATS gives whoever reaches it every client's messages: its ports
	// stay on the host's loopback, if published at all.
	for _, port := range p.Services["nats"].Ports {
		if port.Published != "" && port.HostIP != "127.0.0.1" && port.HostIP != "::1" {
			t.Errorf("nats publishes %s on %q: bind it to 127.0.0.1", port.Published, port.HostIP)
		}
	}
	gw, wk := p.Services["gateway"], p.Services["worker"]
	if len(gw.Ports) != 1 || gw.Ports[0].Target != 8282 || gw.Ports[0].Published != "8282" {
		t.Errorf("gateway ports %+v, want 8282:8282", gw.Ports)
	}
	if len(wk.Ports) != 0 || wk.ContainerName != "" {
		t.Error("the worker must publish no port and have no container name, or --scale worker=3 fails")
	}
	for name, svc := range map[string]string{"gateway": "gateway", "worker": "worker"} {
		s := p.Services[svc]
		if s.Build == nil || s.Build.Context == "" {
			t.Errorf("%s: not built from the Dockerfile", name)
		}
		if v := s.Environment["SB_NATS_URL"]; v == nil || *v != "nats://nats:4222" {
			t.Errorf("%s: SB_NATS_URL = %v, want nats://nats:4222", name, v)
		}
		cmd := strings.Join(s.Command, " ")
		if !strings.Contains(cmd, "--roles "+name) {
			t.Errorf("%s: command %q does not run its role", name, cmd)
		}
		for _, v := range s.Volumes {
			if _, err := os.Stat(v.Source); err != nil {
				t.Errorf("%s: mounted file %s: %v", name, v.Source, err)
			}
			if strings.Contains(cmd, v.Target) {
				cfgFile := filepath.Join(".", "configs", filepath.Base(v.Target))
				if _, err := LoadConfig(cfgFile); err != nil {
					t.Errorf("%s: %s does not validate: %v", name, cfgFile, err)
				}
			}
		}
	}
}

// TestDockerfileBuildsWhatTheREADMESays keeps the image's build command and
// the README's in step.
func TestDockerfileBuildsWhatTheREADMESays(t *testing.T) {
	docker, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^RUN (.*go build .*)$`).FindSubmatch(docker)
	if m == nil {
		t.Fatal("no go build in the Dockerfile")
	}
	if !strings.Contains(string(readme), string(m[1])) {
		t.Fatalf("the README does not show the Dockerfile's build command %q", m[1])
	}
}
