// Command s3load is a small S3 load generator for Coffer's whole-system
// benchmark (bench/run.sh). It drives any S3 endpoint over HTTPS with
// aws-sdk-go-v2 and prints one JSON line per run.
//
// Modes:
//
//	put-large  PUT objects of -size bytes (default 1 GiB) streamed from a
//	           deterministic generator; reports MiB/s.
//	get-large  GET such an object into a discarding writer (uploading it
//	           first, untimed, if it is missing); reports MiB/s.
//	put-small  PUT -size byte objects (default 4 KiB) from -concurrency
//	           workers (default 16); reports ops/s and p50/p99 latency.
//	get-small  GET -objects small objects (written first, untimed) from
//	           -concurrency workers; reports ops/s and p50/p99 latency.
//
// Usage:
//
//	s3load -credentials coffer-data/credentials.json -bucket bench -mode put-small -duration 20s
//	s3load -endpoint https://127.0.0.1:9000 -access-key K -secret-key S -ca ca.pem \
//	       -bucket bench -mode put-large -count 1
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// config holds the command-line settings.
type config struct {
	label       string
	endpoint    string
	accessKey   string
	secretKey   string
	caFile      string
	region      string
	bucket      string
	mode        string
	prefix      string
	size        int64
	concurrency int
	count       int
	duration    time.Duration
	timeout     time.Duration
	objects     int
	verify      bool
}

// result is the JSON line printed for one run.
type result struct {
	Label       string  `json:"label,omitempty"`
	Mode        string  `json:"mode"`
	Endpoint    string  `json:"endpoint"`
	Size        int64   `json:"size"`
	Concurrency int     `json:"concurrency"`
	Ops         int64   `json:"ops"`
	Errors      int64   `json:"errors"`
	Bytes       int64   `json:"bytes"`
	Seconds     float64 `json:"seconds"`
	MiBPerSec   float64 `json:"mib_per_s"`
	OpsPerSec   float64 `json:"ops_per_s"`
	P50Ms       float64 `json:"p50_ms"`
	P99Ms       float64 `json:"p99_ms"`
	MaxMs       float64 `json:"max_ms"`
	SSE         string  `json:"sse,omitempty"`
	FirstError  string  `json:"first_error,omitempty"`
}

// credentialsFile is the shape of Coffer's DATA_DIR/credentials.json.
type credentialsFile struct {
	Endpoint  string `json:"endpoint"`
	AccessKey string `json:"access_key"`
	SecretKey string `json:"secret_key"`
	CAFile    string `json:"ca_file"`
	Region    string `json:"region"`
}

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "s3load:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	cfg, err := parseFlags(args)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.timeout)
	defer cancel()

	client, err := newClient(cfg)
	if err != nil {
		return err
	}
	if err := ensureBucket(ctx, client, cfg.bucket); err != nil {
		return err
	}
	res, err := bench(ctx, client, cfg)
	if err != nil {
		return err
	}
	line, err := json.Marshal(res)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, string(line))
	if res.Ops == 0 {
		return fmt.Errorf("no operation succeeded (%d errors): %s", res.Errors, res.FirstError)
	}
	return nil
}

func parseFlags(args []string) (config, error) {
	var cfg config
	var credFile, size string
	fl := flag.NewFlagSet("s3load", flag.ContinueOnError)
	fl.StringVar(&cfg.label, "label", "", "name of the system under test, copied into the output")
	fl.StringVar(&credFile, "credentials", "", "Coffer credentials.json to read endpoint, keys, CA and region from")
	fl.StringVar(&cfg.endpoint, "endpoint", "", "S3 endpoint URL, e.g. https://127.0.0.1:9000")
	fl.StringVar(&cfg.accessKey, "access-key", "", "access key")
	fl.StringVar(&cfg.secretKey, "secret-key", "", "secret key")
	fl.StringVar(&cfg.caFile, "ca", "", "PEM file of the CA (or self-signed certificate) to trust")
	fl.StringVar(&cfg.region, "region", "", "region to sign for (default us-east-1)")
	fl.StringVar(&cfg.bucket, "bucket", "s3load", "bucket to use; created if missing")
	fl.StringVar(&cfg.mode, "mode", "put-small", "put-large, get-large, put-small or get-small")
	fl.StringVar(&cfg.prefix, "prefix", "s3load", "key prefix")
	fl.StringVar(&size, "size", "", "object size, e.g. 4KiB, 1GiB or bytes (default 1GiB for large modes, 4KiB for small)")
	fl.IntVar(&cfg.concurrency, "concurrency", 0, "parallel workers (default 1 for large modes, 16 for small)")
	fl.IntVar(&cfg.count, "count", 0, "total operations to run (default 1 for large modes; 0 with -duration)")
	fl.DurationVar(&cfg.duration, "duration", 0, "run for this long instead of -count (small modes default 20s)")
	fl.DurationVar(&cfg.timeout, "timeout", 10*time.Minute, "hard limit for the whole run, setup included")
	fl.IntVar(&cfg.objects, "objects", 1000, "get-small: number of distinct objects written first and read round-robin")
	fl.BoolVar(&cfg.verify, "verify", false, "get modes: compare downloaded bytes with the generator (costs client CPU)")
	if err := fl.Parse(args); err != nil {
		return cfg, err
	}
	if fl.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q", fl.Arg(0))
	}
	if credFile != "" {
		if err := applyCredentials(&cfg, credFile); err != nil {
			return cfg, err
		}
	}
	if cfg.region == "" {
		cfg.region = "us-east-1"
	}
	large := false
	switch cfg.mode {
	case "put-large", "get-large":
		large = true
	case "put-small", "get-small":
	default:
		return cfg, fmt.Errorf("unknown -mode %q", cfg.mode)
	}
	if size == "" {
		size = "4KiB"
		if large {
			size = "1GiB"
		}
	}
	var err error
	if cfg.size, err = parseSize(size); err != nil {
		return cfg, err
	}
	if cfg.concurrency <= 0 {
		cfg.concurrency = 16
		if large {
			cfg.concurrency = 1
		}
	}
	if cfg.count <= 0 && cfg.duration <= 0 {
		if large {
			cfg.count = 1
		} else {
			cfg.duration = 20 * time.Second
		}
	}
	if cfg.objects <= 0 {
		cfg.objects = 1
	}
	switch {
	case cfg.endpoint == "":
		return cfg, errors.New("-endpoint (or -credentials) is required")
	case !strings.HasPrefix(cfg.endpoint, "https://"):
		return cfg, fmt.Errorf("-endpoint %q: only https:// endpoints are benchmarked", cfg.endpoint)
	case cfg.accessKey == "" || cfg.secretKey == "":
		return cfg, errors.New("-access-key and -secret-key (or -credentials) are required")
	}
	return cfg, nil
}

// applyCredentials fills the unset connection fields from a Coffer
// credentials.json.
func applyCredentials(cfg *config, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var c credentialsFile
	if err := json.Unmarshal(b, &c); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	set := func(dst *string, v string) {
		if *dst == "" {
			*dst = v
		}
	}
	set(&cfg.endpoint, c.Endpoint)
	set(&cfg.accessKey, c.AccessKey)
	set(&cfg.secretKey, c.SecretKey)
	set(&cfg.caFile, c.CAFile)
	set(&cfg.region, c.Region)
	return nil
}

// parseSize parses "4096", "4KiB", "1GiB", "64MiB" (binary units).
func parseSize(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}
	mult := int64(1)
	num := s
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			mult, num = u.mult, strings.TrimSuffix(s, u.suffix)
			break
		}
	}
	var n int64
	if _, err := fmt.Sscanf(num, "%d", &n); err != nil || n <= 0 || fmt.Sprint(n) != num {
		return 0, fmt.Errorf("bad size %q", s)
	}
	return n * mult, nil
}

// newClient returns an S3 client that trusts cfg.caFile, uses path-style
// addressing, does not retry (failures are counted, not hidden), sends
// UNSIGNED-PAYLOAD over TLS and computes no extra checksums, so both servers
// see the same plain requests.
func newClient(cfg config) (*s3.Client, error) {
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.caFile != "" {
		pem, err := os.ReadFile(cfg.caFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: no PEM certificate found", cfg.caFile)
		}
		tlsCfg.RootCAs = pool
	}
	transport := &http.Transport{
		TLSClientConfig:     tlsCfg,
		MaxIdleConns:        cfg.concurrency * 2,
		MaxIdleConnsPerHost: cfg.concurrency * 2,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
		// 256 KiB socket-side buffers keep the client cheap on large objects.
		WriteBufferSize: 256 << 10,
		ReadBufferSize:  256 << 10,
	}
	awsCfg := aws.Config{
		Region:      cfg.region,
		Credentials: credentials.NewStaticCredentialsProvider(cfg.accessKey, cfg.secretKey, ""),
		HTTPClient:  &http.Client{Transport: transport},
		Retryer:     func() aws.Retryer { return aws.NopRetryer{} },
	}
	return s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(cfg.endpoint)
		o.UsePathStyle = true
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		o.DisableLogOutputChecksumValidationSkipped = true
		o.APIOptions = append(o.APIOptions, v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)
	}), nil
}

func ensureBucket(ctx context.Context, c *s3.Client, bucket string) error {
	if _, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &bucket}); err == nil {
		return nil
	}
	_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &bucket})
	var owned *types.BucketAlreadyOwnedByYou
	if err != nil && !errors.As(err, &owned) {
		return fmt.Errorf("create bucket %s: %w", bucket, err)
	}
	return nil
}

// opFunc performs operation number i and returns the bytes it moved.
type opFunc func(ctx context.Context, i int) (int64, error)

// bench runs the selected mode and measures it.
func bench(ctx context.Context, c *s3.Client, cfg config) (result, error) {
	block := seedBlock()
	runID := time.Now().UTC().Format("20060102T150405.000000000")
	var op opFunc
	var probeKey string // an object the run wrote or read, to report its SSE

	putObj := func(ctx context.Context, key string) error {
		_, err := c.PutObject(ctx, &s3.PutObjectInput{
			Bucket:        &cfg.bucket,
			Key:           &key,
			Body:          newPayload(block, cfg.size),
			ContentLength: aws.Int64(cfg.size),
			ContentType:   aws.String("application/octet-stream"),
		})
		return err
	}
	getObj := func(ctx context.Context, key string) (int64, error) {
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &cfg.bucket, Key: &key})
		if err != nil {
			return 0, err
		}
		defer out.Body.Close()
		v := newVerifier(block, cfg.size, cfg.verify)
		buf := make([]byte, 256<<10)
		if _, err := io.CopyBuffer(v, out.Body, buf); err != nil {
			return v.n, err
		}
		if v.n != cfg.size {
			return v.n, fmt.Errorf("%s: got %d bytes, want %d", key, v.n, cfg.size)
		}
		return v.n, nil
	}
	sizeTag := fmt.Sprintf("%d", cfg.size)

	switch cfg.mode {
	case "put-large", "put-small":
		op = func(ctx context.Context, i int) (int64, error) {
			key := fmt.Sprintf("%s/%s/%s/%d", cfg.prefix, cfg.mode, runID, i)
			if err := putObj(ctx, key); err != nil {
				return 0, err
			}
			return cfg.size, nil
		}
		probeKey = fmt.Sprintf("%s/%s/%s/%d", cfg.prefix, cfg.mode, runID, 0)
	case "get-large":
		key := fmt.Sprintf("%s/get-large/%s", cfg.prefix, sizeTag)
		if err := ensureObject(ctx, c, cfg.bucket, key, cfg.size, putObj); err != nil {
			return result{}, err
		}
		op = func(ctx context.Context, _ int) (int64, error) { return getObj(ctx, key) }
		probeKey = key
	case "get-small":
		keys := make([]string, cfg.objects)
		for i := range keys {
			keys[i] = fmt.Sprintf("%s/get-small/%s/%d", cfg.prefix, sizeTag, i)
		}
		if err := populate(ctx, cfg.concurrency, keys, putObj); err != nil {
			return result{}, err
		}
		op = func(ctx context.Context, i int) (int64, error) { return getObj(ctx, keys[i%len(keys)]) }
		probeKey = keys[0]
	}

	res := measure(ctx, cfg, op)
	res.Label, res.Mode, res.Endpoint = cfg.label, cfg.mode, cfg.endpoint
	res.Size, res.Concurrency = cfg.size, cfg.concurrency
	if res.Ops > 0 {
		head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &cfg.bucket, Key: &probeKey})
		switch {
		case err != nil:
			res.SSE = "unknown: " + err.Error()
		case head.ServerSideEncryption != "":
			res.SSE = string(head.ServerSideEncryption)
		default:
			res.SSE = "none reported"
		}
	}
	return res, nil
}

// ensureObject uploads key (untimed) unless it already exists with the
// expected size.
func ensureObject(ctx context.Context, c *s3.Client, bucket, key string, size int64, put func(context.Context, string) error) error {
	head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: &key})
	if err == nil && aws.ToInt64(head.ContentLength) == size {
		return nil
	}
	if err := put(ctx, key); err != nil {
		return fmt.Errorf("prepare %s: %w", key, err)
	}
	return nil
}

// populate writes keys (untimed) with the given parallelism.
func populate(ctx context.Context, workers int, keys []string, put func(context.Context, string) error) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, workers)
	for w := range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(keys) || ctx.Err() != nil {
					return
				}
				if err := put(ctx, keys[i]); err != nil {
					errs[w] = fmt.Errorf("prepare %s: %w", keys[i], err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return ctx.Err()
}

// measure runs op from cfg.concurrency workers until cfg.count operations
// were started or cfg.duration has passed, and summarises the successful ones.
func measure(ctx context.Context, cfg config, op opFunc) result {
	var (
		next     atomic.Int64
		nErr     atomic.Int64
		nBytes   atomic.Int64
		firstErr atomic.Value
		wg       sync.WaitGroup
	)
	lat := make([][]time.Duration, cfg.concurrency)
	start := time.Now()
	var deadline time.Time
	if cfg.count <= 0 {
		deadline = start.Add(cfg.duration)
	}
	for w := range cfg.concurrency {
		wg.Go(func() {
			for ctx.Err() == nil {
				if !deadline.IsZero() && time.Now().After(deadline) {
					return
				}
				i := int(next.Add(1) - 1)
				if cfg.count > 0 && i >= cfg.count {
					return
				}
				t0 := time.Now()
				n, err := op(ctx, i)
				d := time.Since(t0)
				if err != nil {
					nErr.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				nBytes.Add(n)
				lat[w] = append(lat[w], d)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)

	all := slices.Concat(lat...)
	slices.Sort(all)
	res := result{
		Ops:     int64(len(all)),
		Errors:  nErr.Load(),
		Bytes:   nBytes.Load(),
		Seconds: round(elapsed.Seconds(), 3),
	}
	if e, ok := firstErr.Load().(string); ok {
		res.FirstError = e
	}
	if s := elapsed.Seconds(); s > 0 {
		res.MiBPerSec = round(float64(res.Bytes)/(1<<20)/s, 2)
		res.OpsPerSec = round(float64(res.Ops)/s, 2)
	}
	res.P50Ms = ms(percentile(all, 50))
	res.P99Ms = ms(percentile(all, 99))
	if len(all) > 0 {
		res.MaxMs = ms(all[len(all)-1])
	}
	return res
}

// percentile returns the nearest-rank p-th percentile of sorted durations.
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := (p*len(sorted) + 99) / 100 // ceil(p/100 * n)
	return sorted[max(rank, 1)-1]
}

func ms(d time.Duration) float64 { return round(float64(d)/float64(time.Millisecond), 3) }

func round(f float64, digits int) float64 {
	p := 1.0
	for range digits {
		p *= 10
	}
	return float64(int64(f*p+0.5)) / p
}
