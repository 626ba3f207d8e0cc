package report

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/jevonsdev/jevons/analytics"
)

// chromium finds Debian's headless browser; without it the test skips,
// except under CI=true, where it fails.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{os.Getenv("JEVONS_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"} {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium not found under CI=true: install Debian's chromium (apt-get install chromium)")
	}
	t.Skip("chromium not found: browser test skipped; apt-get install chromium or set JEVONS_CHROMIUM")
	return ""
}

// The HTML report in a real headless Chromium: it renders every chart with
// content, shows the verdict and figures, makes no network request, and
// its screenshot is not blank.
func TestHTMLReportRendersInHeadlessChromium(t *testing.T) {
	bin := chromium(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "report.html")
	var page bytes.Buffer
	doc := Build(story(t), analytics.Month)
	if err := HTML(&page, doc); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, page.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(filepath.Join(dir, "profile")), chromedp.WindowSize(1000, 2600),
	}
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 90*time.Second)
	defer cancel()

	var mu sync.Mutex
	var requests []string
	if err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok {
			mu.Lock()
			requests = append(requests, e.Request.URL)
			mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate("file://"+file), chromedp.WaitVisible("#verdict")); err != nil {
		t.Fatal(err)
	}
	text := func(sel string) string {
		s, err := chromedp.Run(ctx, chromedp.Text(sel))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
	verdict, paragraph, unpriced := text("#verdict"), text("#paragraph"), text("#unpriced")
	charts, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("svg.chart").length`))
	if err != nil {
		t.Fatal(err)
	}
	// A chart has content when it draws a line or a bar of real size.
	filled, err := chromedp.Run(ctx, chromedp.Evaluate[int](`[...document.querySelectorAll("svg.chart")].filter(s =>
		[...s.querySelectorAll("polyline.series, rect.bar")].some(e => { const b = e.getBBox(); return b.width > 0 && b.height > 0 })
		&& s.getBoundingClientRect().height > 100).length`))
	if err != nil {
		t.Fatal(err)
	}
	titles, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("figure h2")].map(h => h.textContent)`))
	if err != nil {
		t.Fatal(err)
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if verdict != "Usage growth outpaces unit-cost decline." {
		t.Errorf("verdict %q", verdict)
	}
	if !strings.Contains(paragraph, "$31.00") || !strings.Contains(paragraph, "$69.00") {
		t.Errorf("paragraph lacks the spend figures: %q", paragraph)
	}
	if !strings.Contains(unpriced, "openai/acme-internal") {
		t.Errorf("unpriced models table: %q", unpriced)
	}
	if charts != 5 || filled != 5 {
		t.Errorf("%d charts, %d with content; want 5 and 5", charts, filled)
	}
	for _, want := range []string{"Usage, unit cost and spend", "volume, mix and price", "Tokens per task", "Cost per task", "Spend by model"} {
		if !strings.Contains(strings.Join(titles, "|"), want) {
			t.Errorf("no chart titled %q in %v", want, titles)
		}
	}
	mu.Lock()
	for _, u := range requests {
		if !strings.HasPrefix(u, "file://") {
			t.Errorf("the page made a network request: %s", u)
		}
	}
	mu.Unlock()
	if colors := distinctColors(t, shot); colors < 6 {
		t.Errorf("screenshot has %d distinct colours: blank", colors)
	}
	if os.Getenv("JEVONS_SCREENSHOT") != "" {
		_ = os.WriteFile(os.Getenv("JEVONS_SCREENSHOT"), shot, 0o644)
	}
}

func distinctColors(t *testing.T, b []byte) int {
	t.Helper()
	img, _, err := image.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("decode screenshot: %v", err)
	}
	seen := map[[3]uint32]bool{}
	r := img.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y += 4 {
		for x := r.Min.X; x < r.Max.X; x += 4 {
			c0, c1, c2, _ := img.At(x, y).RGBA()
			seen[[3]uint32{c0 >> 12, c1 >> 12, c2 >> 12}] = true
		}
	}
	return len(seen)
}

var _ = png.Decode // the screenshot is a PNG
