package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/switchboard-go/switchboard/admin"
	jsclient "github.com/switchboard-go/switchboard/clients/js"
	"github.com/switchboard-go/switchboard/examples/chat"
	"github.com/switchboard-go/switchboard/gateway"
	"github.com/switchboard-go/switchboard/httpapi"
	"github.com/switchboard-go/switchboard/internal/sbtest"
)

const adminToken = "browser-test-token-0123"

// demoGateway starts a gateway on addr serving the chat page, the HTTP API
// and the admin page, as the stock binary does.
func demoGateway(t *testing.T, url, addr string) *gateway.Gateway {
	t.Helper()
	static, err := chat.StaticFS()
	if err != nil {
		t.Fatal(err)
	}
	page, err := admin.Handler("/admin/")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/api/", httpapi.New(sbtest.Client(t, url), []httpapi.Token{{Token: adminToken, Calls: []string{"*"}}}, 0, sbtest.Logger()))
	mux.Handle("/admin/", page)
	mux.Handle("/switchboard.js", jsclient.Handler())
	mux.Handle("/", http.FileServerFS(static))
	g, err := gateway.New(sbtest.Conn(t, url), gateway.Listen("ws://"+addr), gateway.HTTPHandler(mux), gateway.Logger(sbtest.Logger()))
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return g
}

// chromium finds the Chromium executable: $SB_CHROMIUM, or a usual name
// on PATH.
func chromium() (string, error) {
	if exe := os.Getenv("SB_CHROMIUM"); exe != "" {
		return exec.LookPath(exe)
	}
	names := []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"}
	for _, name := range names {
		if exe, err := exec.LookPath(name); err == nil {
			return exe, nil
		}
	}
	return "", fmt.Errorf("none of %s on PATH", strings.Join(names, ", "))
}

// browser starts headless Chromium (Debian's package) for the test.
func browser(t *testing.T) context.Context {
	t.Helper()
	exe, err := chromium()
	if err != nil {
		sbtest.MissingTool(t, "SB_REQUIRE_BROWSER", "Chromium", "install it (Debian: apt-get install chromium) or set SB_CHROMIUM to its path", err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.UserDataDir(t.TempDir()),
		chromedp.ExecPath(exe),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("no-first-run", true),
		chromedp.WindowSize(1100, 800),
	)
	// One deadline for the whole browser: chromedp closes a tab when a
	// context derived from it ends, so steps get no timeouts of their own.
	dctx, dcancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(dcancel)
	actx, cancel := chromedp.NewExecAllocator(dctx, opts...)
	t.Cleanup(cancel)
	bctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return bctx
}

// tab opens a new tab in the browser.
func tab(t *testing.T, b context.Context) context.Context {
	ctx, cancel := chromedp.NewContext(b)
	t.Cleanup(cancel)
	return ctx
}

type step = chromedp.Action[chromedp.Void]

func run(t *testing.T, ctx context.Context, what string, steps ...step) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// until waits until the JavaScript expression is true.
func until(expr string) step {
	return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Poll[bool](expr, chromedp.WithPollingInterval(50*time.Millisecond))(ctx, tg)
		return chromedp.Void{}, err
	}
}

// waitText waits until the element's text contains want.
func waitText(sel, want string) step {
	return until(fmt.Sprintf(`(document.querySelector(%q)?.textContent || "").includes(%q)`, sel, want))
}

func keys(sel, text string) step { return chromedp.SendKeys(chromedp.CSS(sel), text) }
func click(sel string) step      { return chromedp.Click(chromedp.CSS(sel)) }

func screenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

func TestBrowserChatReconnectAndAdmin(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Chromium")
	}
	ns := sbtest.NATS(t)
	url := ns.ClientURL()
	sbtest.Worker(t, url, chat.Events{})
	addr := fmt.Sprintf("127.0.0.1:%d", sbtest.FreePort(t))
	g := demoGateway(t, url, addr)
	b := browser(t)
	shots := t.TempDir()
	alice, bob := tab(t, b), tab(t, b)
	page := "http://" + addr + "/"
	for _, u := range []struct {
		ctx  context.Context
		name string
	}{{alice, "alice"}, {bob, "bob"}} {
		run(t, u.ctx, "login "+u.name,
			chromedp.Navigate(page),
			keys("#name", u.name),
			click("#login"),
			waitText("#status", "connected"),
		)
	}
	run(t, alice, "alice sees bob join", waitText("#users", "bob"), waitText(`#messages .msg[data-type="join"]`, "bob"))
	run(t, alice, "alice says hello",
		keys("#text", "hello bob"),
		click("#send"),
	)
	run(t, bob, "bob reads it", waitText(`#messages .msg[data-type="say"]`, "hello bob"))
	screenshot(t, bob, shots, "chat")

	// The gateway restarts on the same port; both tabs reconnect by
	// themselves, log in again and chat again.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	_ = g.Shutdown(ctx)
	cancel()
	run(t, alice, "alice notices", waitText("#status", "reconnecting"))
	g = demoGateway(t, url, addr)
	t.Cleanup(func() { _ = g.Shutdown(context.Background()) })
	for _, c := range []context.Context{alice, bob} {
		run(t, c, "reconnect", waitText("#status", "connected"))
	}
	run(t, bob, "bob is back with alice", waitText("#users", "alice"))
	run(t, bob, "bob answers",
		keys("#text", "back again"),
		click("#send"),
	)
	run(t, alice, "alice reads it", waitText(`#messages`, "back again"))

	// The admin page lists both connections; a kick closes one tab's socket.
	adm := tab(t, b)
	run(t, adm, "admin page",
		chromedp.Navigate("http://"+addr+"/admin/"),
		keys("#token", adminToken),
		click("#save"),
		until(`document.querySelectorAll("#clients tbody tr").length === 2`),
		waitText("#t-conns", "2"),
	)
	screenshot(t, adm, shots, "admin")
	kicked, err := chromedp.Run(adm, chromedp.Text(chromedp.CSS(`#clients tbody tr a`)))
	if err != nil {
		t.Fatal(err)
	}
	run(t, adm, "kick the first client", click(`#clients tbody tr button`))
	if !strings.Contains(kicked, "-") {
		t.Fatalf("kicked %q, not a client id", kicked)
	}
	// Exactly one tab lost its socket: wait until one shows it, then check
	// the other did not.
	one := `[...document.querySelectorAll("#status")].some(e => e.textContent.includes("reconnecting"))`
	var dropped []context.Context
	var stayed context.Context
	deadline := time.Now().Add(10 * time.Second)
	for len(dropped) == 0 && time.Now().Before(deadline) {
		for _, c := range []context.Context{alice, bob} {
			if v, err := chromedp.Run(c, chromedp.Evaluate[bool](one)); err == nil && v {
				dropped = append(dropped, c)
			} else {
				stayed = c
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(dropped) != 1 {
		t.Fatalf("%d tabs lost their socket after one kick, want 1", len(dropped))
	}
	// The other user sees the leave notice.
	run(t, stayed, "leave notice", until(`document.querySelectorAll('#messages .msg[data-type="leave"]').length > 0`))
}
