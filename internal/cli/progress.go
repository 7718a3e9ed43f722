package cli

import (
	"fmt"
	"io"
	"time"

	"github.com/schollz/progressbar/v3"
)

// progress is a transfer progress bar on stderr (size, percent, rate and
// ETA). A nil *progress draws nothing, so callers need not check.
type progress struct {
	bar *progressbar.ProgressBar
	w   io.Writer
}

// newProgress returns a bar for a transfer of total bytes, or nil when
// bars are off: --quiet, --json, an unknown size, or stderr is not a
// terminal.
func (a *app) newProgress(cf *commonFlags, total int64, desc string) *progress {
	if cf.quiet || cf.json || total < 0 || !a.isTerminal(a.stderr) {
		return nil
	}
	return newProgressBar(a.stderr, total, desc, 100*time.Millisecond)
}

// newProgressBar draws on w, redrawing at most once per throttle.
func newProgressBar(w io.Writer, total int64, desc string, throttle time.Duration) *progress {
	if r := []rune(desc); len(r) > 30 {
		desc = "…" + string(r[len(r)-29:])
	}
	bar := progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowBytes(true),
		progressbar.OptionShowCount(),
		progressbar.OptionShowTotalBytes(true),
		progressbar.OptionUseIECUnits(true),
		progressbar.OptionSetWidth(20),
		progressbar.OptionThrottle(throttle),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionShowElapsedTimeOnFinish(),
		progressbar.OptionSetTheme(progressbar.ThemeASCII),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
	)
	return &progress{bar: bar, w: w}
}

// Add records n more bytes transferred.
func (p *progress) Add(n int64) {
	if p != nil {
		_ = p.bar.Add64(n)
	}
}

// Set records that n bytes are done (for a resumed transfer).
func (p *progress) Set(n int64) {
	if p != nil {
		_ = p.bar.Set64(n)
	}
}

// Write counts len(b) bytes; it lets a bar sit behind io.TeeReader.
func (p *progress) Write(b []byte) (int, error) {
	p.Add(int64(len(b)))
	return len(b), nil
}

// Read counts len(b) bytes; minio-go's PutObjectOptions.Progress calls it
// with each chunk it has sent.
func (p *progress) Read(b []byte) (int, error) {
	p.Add(int64(len(b)))
	return len(b), nil
}

// Finish draws the bar at 100% and ends its line.
func (p *progress) Finish() {
	if p != nil && !p.bar.IsFinished() {
		_ = p.bar.Finish()
	}
}

// Abort ends the bar's line without claiming completion.
func (p *progress) Abort() {
	if p != nil && !p.bar.IsFinished() {
		_ = p.bar.Exit()
		fmt.Fprintln(p.w)
	}
}
