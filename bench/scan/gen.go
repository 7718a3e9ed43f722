package main

// The corpus generator: source code, logs, CSV, JSON and config files with
// secrets, personal data and decoys planted at recorded places.

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Item is one planted value, a line of the ground-truth manifest.
type Item struct {
	File  string `json:"file"`  // slash path relative to the corpus root
	Line  int    `json:"line"`  // 1-based line the value starts on
	Class string `json:"class"` // "secret", "pii" or "decoy"
	Type  string `json:"type"`  // e.g. "aws_access_key", "card", "decoy:uuid"
	Value string `json:"value"`
}

// genOptions configure generate.
type genOptions struct {
	Dir      string // corpus root (created)
	Manifest string // manifest path (JSON lines); keep it outside Dir
	Size     int64  // bytes to write, about
	Seed     uint64
}

// genStats sums up a generated corpus.
type genStats struct {
	Files, Bytes         int64
	Secrets, PII, Decoys int
	ByType               map[string]int
}

// generate writes the corpus and its manifest.
func generate(o genOptions) (genStats, error) {
	st := genStats{ByType: map[string]int{}}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return st, err
	}
	mf, err := os.Create(o.Manifest)
	if err != nil {
		return st, err
	}
	defer mf.Close()
	mw := bufio.NewWriter(mf)
	enc := json.NewEncoder(mw)
	enc.SetEscapeHTML(false)

	g := &gen{r: rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15))}
	for n := 0; st.Bytes < o.Size; n++ {
		kind := g.pickKind()
		rel := g.path(kind, n)
		size := g.fileSize(kind)
		if rest := o.Size - st.Bytes; int64(size) > rest {
			size = int(max(rest, 512))
		}
		f := g.file(kind, rel, size)
		p := filepath.Join(o.Dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return st, err
		}
		if err := os.WriteFile(p, f.buf.Bytes(), 0o644); err != nil {
			return st, err
		}
		st.Files++
		st.Bytes += int64(f.buf.Len())
		for _, it := range f.items {
			if err := enc.Encode(it); err != nil {
				return st, err
			}
			switch it.Class {
			case "secret":
				st.Secrets++
			case "pii":
				st.PII++
			default:
				st.Decoys++
			}
			st.ByType[it.Class+"/"+it.Type]++
		}
	}
	if err := mw.Flush(); err != nil {
		return st, err
	}
	return st, mf.Close()
}

type kind int

const (
	kindGo kind = iota
	kindPy
	kindJS
	kindJava
	kindLog
	kindCSV
	kindJSON
	kindEnv
	kindYAML
	nKinds
)

var kindExt = [nKinds]string{".go", ".py", ".js", ".java", ".log", ".csv", ".json", ".env", ".yaml"}

type gen struct{ r *rand.Rand }

// pickKind draws a file kind, weighted by bytes: logs and data dominate a
// real share's volume, code and config its file count.
func (g *gen) pickKind() kind {
	switch x := g.r.IntN(100); {
	case x < 14:
		return kindGo
	case x < 24:
		return kindPy
	case x < 34:
		return kindJS
	case x < 42:
		return kindJava
	case x < 58:
		return kindLog
	case x < 70:
		return kindCSV
	case x < 82:
		return kindJSON
	case x < 91:
		return kindEnv
	default:
		return kindYAML
	}
}

func (g *gen) fileSize(k kind) int {
	switch k {
	case kindLog, kindCSV, kindJSON:
		return 32<<10 + g.r.IntN(2<<20)
	case kindEnv, kindYAML:
		return 512 + g.r.IntN(6<<10)
	default:
		return 4<<10 + g.r.IntN(120<<10)
	}
}

var (
	projects = []string{"billing", "checkout", "gateway", "inventory", "ledger", "notify", "orders", "payments", "search", "users", "reports", "etl"}
	words    = []string{"user", "order", "request", "handler", "config", "server", "client", "value", "result", "error",
		"buffer", "stream", "index", "count", "name", "path", "status", "cache", "session", "data", "message",
		"context", "timeout", "retry", "update", "delete", "create", "select", "account", "payment", "address",
		"version", "build", "item", "queue", "worker", "batch", "region", "tenant", "invoice", "refund", "price"}
	firstNames = []string{"wei", "li", "zhang", "anna", "james", "maria", "lukas", "sophie", "chen", "yuki", "omar", "emma", "noah", "olivia", "ivan", "fatima"}
	lastNames  = []string{"wang", "li", "zhang", "smith", "mueller", "dubois", "rossi", "tanaka", "kim", "garcia", "novak", "jensen", "brown", "chen"}
	domains    = []string{"gmail.com", "outlook.com", "qq.com", "163.com", "yahoo.co.uk", "gmx.de", "orange.fr", "acme-corp.io", "northwind.cn", "contoso.net"}
	cities     = []string{"Beijing", "Shanghai", "Shenzhen", "Berlin", "Paris", "London", "Madrid", "Tokyo", "Austin", "Milan"}
)

const (
	alnum  = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	upperN = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	lowerN = "abcdefghijklmnopqrstuvwxyz0123456789"
	hexd   = "0123456789abcdef"
	b64    = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	digits = "0123456789"
)

func (g *gen) rnd(n int, set string) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = set[g.r.IntN(len(set))]
	}
	return string(b)
}

func (g *gen) pick(s []string) string { return s[g.r.IntN(len(s))] }
func (g *gen) w() string              { return g.pick(words) }

func (g *gen) path(k kind, n int) string {
	p := g.pick(projects)
	switch k {
	case kindLog:
		return fmt.Sprintf("var/log/%s/%s-%04d%s", p, g.w(), n, kindExt[k])
	case kindCSV, kindJSON:
		return fmt.Sprintf("data/exports/%s/%s_%s_%04d%s", p, g.w(), g.w(), n, kindExt[k])
	case kindEnv:
		return fmt.Sprintf("services/%s/deploy/%04d%s", p, n, kindExt[k])
	case kindYAML:
		return fmt.Sprintf("services/%s/config/%s-%04d%s", p, g.w(), n, kindExt[k])
	default:
		return fmt.Sprintf("services/%s/src/%s/%s_%04d%s", p, g.w(), g.w(), n, kindExt[k])
	}
}

// fileGen accumulates one file and the items planted in it.
type fileGen struct {
	rel   string
	buf   bytes.Buffer
	line  int // lines written so far
	items []Item
}

func (f *fileGen) write(s string) {
	f.buf.WriteString(s)
	f.line += strings.Count(s, "\n")
}

// plant writes text whose value starts on the first line of text.
func (f *fileGen) plant(class, typ, value, text string) {
	f.items = append(f.items, Item{File: f.rel, Line: f.line + 1, Class: class, Type: typ, Value: value})
	f.write(text)
}

// plantRate is the chance that a line of a large file is followed by a
// planted value (secret, personal datum or decoy): about one per 24 KiB.
const plantRate = 1.0 / 300

func (g *gen) file(k kind, rel string, size int) *fileGen {
	f := &fileGen{rel: rel}
	switch k {
	case kindCSV:
		f.write("id,customer,city,amount,currency,created_at,status,note\n")
	case kindJava:
		f.write("package com.acme." + g.pick(projects) + ";\n\nimport java.util.*;\n\n")
	case kindGo:
		f.write("package " + g.w() + "\n\nimport (\n\t\"context\"\n\t\"fmt\"\n)\n\n")
	}
	small := k == kindEnv || k == kindYAML
	for f.buf.Len() < size {
		f.write(g.filler(k))
		if (small && g.r.IntN(6) == 0) || (!small && g.r.Float64() < plantRate) {
			g.plantOne(f, k)
		}
	}
	return f
}

// filler returns a few lines of clean content: nothing in it is a secret
// or personal datum.
func (g *gen) filler(k kind) string {
	r := g.r
	switch k {
	case kindGo:
		var b strings.Builder
		fmt.Fprintf(&b, "func (s *%sService) %s%s(ctx context.Context, %s string) (int, error) {\n", g.w(), title(g.w()), title(g.w()), g.w())
		for range 1 + r.IntN(5) {
			fmt.Fprintf(&b, "\tif err := s.%s.%s(ctx, %s, %d); err != nil {\n\t\treturn 0, fmt.Errorf(\"%s %s: %%w\", err)\n\t}\n", g.w(), title(g.w()), g.w(), r.IntN(1000), g.w(), g.w())
		}
		fmt.Fprintf(&b, "\treturn len(%s), nil\n}\n\n", g.w())
		return b.String()
	case kindPy:
		var b strings.Builder
		fmt.Fprintf(&b, "def %s_%s(self, %s, %s=None):\n    \"\"\"%s the %s.\"\"\"\n", g.w(), g.w(), g.w(), g.w(), title(g.w()), g.w())
		for range 1 + r.IntN(5) {
			fmt.Fprintf(&b, "    %s = self.%s.get(%q, %d)\n", g.w(), g.w(), g.w(), r.IntN(100))
		}
		fmt.Fprintf(&b, "    return %s\n\n", g.w())
		return b.String()
	case kindJS:
		var b strings.Builder
		fmt.Fprintf(&b, "export async function %s%s(%s) {\n", g.w(), title(g.w()), g.w())
		for range 1 + r.IntN(5) {
			fmt.Fprintf(&b, "  const %s = await api.%s(`/v1/%s/${%s}`, { retries: %d });\n", g.w(), g.w(), g.w(), g.w(), r.IntN(5))
		}
		fmt.Fprintf(&b, "  return %s;\n}\n\n", g.w())
		return b.String()
	case kindJava:
		var b strings.Builder
		fmt.Fprintf(&b, "    public %s %s%s(%s %s) {\n", title(g.w()), g.w(), title(g.w()), title(g.w()), g.w())
		for range 1 + r.IntN(5) {
			fmt.Fprintf(&b, "        this.%s.%s(%s, %d);\n", g.w(), g.w(), g.w(), r.IntN(1000))
		}
		fmt.Fprintf(&b, "        return %s;\n    }\n\n", g.w())
		return b.String()
	case kindLog:
		var b strings.Builder
		lv := []string{"INFO", "INFO", "INFO", "DEBUG", "WARN", "ERROR"}
		for range 1 + r.IntN(6) {
			fmt.Fprintf(&b, "2026-%02d-%02dT%02d:%02d:%02d.%03dZ %s [%s] %s %s %s=%d duration=%dms request_id=%s trace_id=%s src=10.%d.%d.%d\n",
				1+r.IntN(12), 1+r.IntN(28), r.IntN(24), r.IntN(60), r.IntN(60), r.IntN(1000), g.pick(lv), g.pick(projects), g.w(), g.w(), g.w(), r.IntN(100000), r.IntN(5000),
				g.rnd(16, hexd), g.rnd(32, hexd), r.IntN(256), r.IntN(256), 1+r.IntN(254))
		}
		return b.String()
	case kindCSV:
		var b strings.Builder
		for range 1 + r.IntN(8) {
			fmt.Fprintf(&b, "%d,%s %s,%s,%d.%02d,%s,2025-%02d-%02d %02d:%02d,%s,%s\n", r.IntN(1e8), title(g.pick(firstNames)), title(g.pick(lastNames)),
				g.pick(cities), r.IntN(10000), r.IntN(100), g.pick([]string{"EUR", "USD", "CNY", "GBP"}), 1+r.IntN(12), 1+r.IntN(28), r.IntN(24), r.IntN(60),
				g.pick([]string{"paid", "open", "refunded", "void"}), g.w())
		}
		return b.String()
	case kindJSON:
		return fmt.Sprintf("{\"id\":%d,\"%s\":\"%s\",\"%s\":%d,\"region\":\"%s\",\"tags\":[\"%s\",\"%s\"],\"updated\":\"2026-%02d-%02dT%02d:%02d:00Z\"}\n",
			r.IntN(1e8), g.w(), g.w(), g.w(), r.IntN(1e6), g.pick(cities), g.w(), g.w(), 1+r.IntN(12), 1+r.IntN(28), r.IntN(24), r.IntN(60))
	case kindEnv:
		return fmt.Sprintf("%s_%s=%s\n%s_TIMEOUT=%ds\n", strings.ToUpper(g.w()), strings.ToUpper(g.w()), g.w(), strings.ToUpper(g.w()), r.IntN(120))
	case kindYAML:
		return fmt.Sprintf("%s:\n  %s: %s\n  replicas: %d\n  port: %d\n", g.w(), g.w(), g.w(), 1+r.IntN(8), 1024+r.IntN(50000))
	}
	return "\n"
}

// assignment writes name = "value" in the syntax of the file kind.
func (g *gen) assignment(k kind, name, value string) string {
	switch k {
	case kindGo:
		return fmt.Sprintf("\t%s := %q\n", camel(name), value)
	case kindPy:
		return fmt.Sprintf("%s = %q\n", strings.ToUpper(name), value)
	case kindJS:
		return fmt.Sprintf("const %s = '%s';\n", camel(name), value)
	case kindJava:
		return fmt.Sprintf("    private static final String %s = \"%s\";\n", strings.ToUpper(name), value)
	case kindJSON:
		return fmt.Sprintf("{\"service\":\"%s\",\"%s\":\"%s\"}\n", g.pick(projects), name, value)
	case kindYAML:
		return fmt.Sprintf("%s: %s\n", name, value)
	case kindLog:
		return fmt.Sprintf("2026-%02d-%02dT10:00:00.000Z DEBUG [%s] loaded settings %s=%s\n", 1+g.r.IntN(12), 1+g.r.IntN(28), g.pick(projects), name, value)
	case kindCSV:
		// A support ticket export with a pasted credential in its note.
		return fmt.Sprintf("%d,%s %s,%s,0,EUR,2025-01-01 00:00,open,\"please rotate: %s=%s\"\n", g.r.IntN(1e8),
			title(g.pick(firstNames)), title(g.pick(lastNames)), g.pick(cities), name, value)
	default: // .env
		return fmt.Sprintf("%s=%s\n", strings.ToUpper(name), value)
	}
}

func camel(s string) string {
	parts := strings.Split(s, "_")
	for i := 1; i < len(parts); i++ {
		parts[i] = title(parts[i])
	}
	return strings.Join(parts, "")
}

// plantOne plants one secret, personal datum or decoy suited to the kind.
func (g *gen) plantOne(f *fileGen, k kind) {
	x := g.r.IntN(100)
	data := k == kindLog || k == kindCSV || k == kindJSON
	switch {
	case data && x < 45, !data && x < 12:
		g.plantPII(f, k)
	case x < 75:
		g.plantSecret(f, k)
	default:
		g.plantDecoy(f, k)
	}
}

func (g *gen) plantSecret(f *fileGen, k kind) {
	r := g.r
	a := func(typ, name, v string) { f.plant("secret", typ, v, g.assignment(k, name, v)) }
	switch r.IntN(16) {
	case 0:
		v := "AKIA" + g.rnd(16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
		a("aws_access_key", "aws_access_key_id", v)
	case 1:
		v := g.rnd(40, b64)
		a("aws_secret_key", "aws_secret_access_key", v)
	case 2:
		if r.IntN(3) == 0 {
			v := "github_pat_" + g.rnd(22, alnum) + "_" + g.rnd(59, alnum)
			a("github_token", "github_token", v)
		} else {
			v := g.pick([]string{"ghp_", "gho_", "ghs_"}) + g.rnd(36, alnum)
			a("github_token", "gh_token", v)
		}
	case 3:
		if r.IntN(2) == 0 {
			v := "xox" + g.pick([]string{"b", "p"}) + "-" + g.rnd(12, digits) + "-" + g.rnd(13, digits) + "-" + g.rnd(24, alnum)
			a("slack_token", "slack_bot_token", v)
		} else {
			v := "https://hooks.slack.com/services/T" + g.rnd(10, upperN) + "/B" + g.rnd(10, upperN) + "/" + g.rnd(24, alnum)
			a("slack_webhook", "slack_webhook_url", v)
		}
	case 4:
		v := g.pick([]string{"sk_live_", "rk_live_"}) + g.rnd(24+r.IntN(75), alnum)
		a("stripe_key", "stripe_secret_key", v)
	case 5:
		g.plantPEM(f, k)
	case 6:
		v := g.jwt()
		if k == kindLog {
			f.plant("secret", "jwt", v, fmt.Sprintf("2026-03-04T10:00:00.000Z INFO [gateway] upstream call Authorization: Bearer %s status=200\n", v))
		} else {
			a("jwt", "auth_token", v)
		}
	case 7:
		user, pw := g.pick(firstNames), g.rnd(14+r.IntN(8), alnum)
		host := g.pick(projects) + "-db.internal"
		v := g.pick([]string{
			"postgres://" + user + ":" + pw + "@" + host + ":5432/" + g.pick(projects),
			"postgresql://" + user + ":" + pw + "@" + host + "/app?sslmode=require",
			"mysql://" + user + ":" + pw + "@" + host + ":3306/" + g.pick(projects),
			"mongodb+srv://" + user + ":" + pw + "@cluster0." + g.rnd(5, lowerN) + ".mongodb.net/" + g.pick(projects),
			"redis://default:" + pw + "@" + host + ":6379/0",
			"amqp://" + user + ":" + pw + "@" + host + ":5672/",
		})
		f.plant("secret", "db_url", v, g.assignment(k, "database_url", v))
	case 8, 9:
		// Half with a special character, half letters and digits only.
		pw := g.rnd(12+r.IntN(10), alnum)
		if r.IntN(2) == 0 {
			pw = g.rnd(6+r.IntN(6), alnum) + g.pick([]string{"!", "#", "@", "%", "$", "&", "*", "-"}) + g.rnd(4+r.IntN(6), alnum)
		}
		name := g.pick([]string{"db_password", "password", "smtp_password", "admin_password", "redis_password", "ldap_bind_password"})
		a("password", name, pw)
	case 10:
		v := "AIza" + g.rnd(35, alnum+"_-")
		a("gcp_api_key", "google_maps_api_key", v)
	case 11:
		v := "SG." + g.rnd(22, alnum+"_-") + "." + g.rnd(43, alnum+"_-")
		a("sendgrid_key", "sendgrid_api_key", v)
	case 12:
		v := "glpat-" + g.rnd(20, alnum+"_-")
		a("gitlab_token", "gitlab_token", v)
	case 13:
		v := "npm_" + g.rnd(36, alnum)
		a("npm_token", "npm_token", v)
	case 14:
		v := "sk-proj-" + g.rnd(48, alnum+"_-") + "T3BlbkFJ" + g.rnd(48, alnum+"_-")
		a("openai_key", "openai_api_key", v)
	case 15:
		v := g.rnd(32, hexd)
		a("api_key", g.pick([]string{"api_key", "client_secret", "access_token", "secret_key"}), v)
	}
}

// plantPEM plants a private key: a PEM block in text files, an escaped
// one in a service-account JSON record.
func (g *gen) plantPEM(f *fileGen, k kind) {
	label := g.pick([]string{"RSA PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY", "OPENSSH PRIVATE KEY"})
	lines := 8 + g.r.IntN(18)
	body := make([]string, lines)
	for i := range body {
		body[i] = g.rnd(64, b64)
	}
	body[lines-1] = body[lines-1][:20+g.r.IntN(40)] + "=="
	begin := "-----BEGIN " + label + "-----"
	if k == kindJSON || k == kindCSV || k == kindLog {
		pem := begin + `\n` + strings.Join(body, `\n`) + `\n-----END ` + label + `-----\n`
		f.plant("secret", "private_key", begin, fmt.Sprintf("{\"type\":\"service_account\",\"project_id\":\"%s-%d\",\"private_key_id\":\"%s\",\"private_key\":\"%s\",\"client_email\":\"deployer@%s.iam.gserviceaccount.com\"}\n",
			g.pick(projects), g.r.IntN(1000), g.rnd(40, hexd), pem, g.pick(projects)))
		return
	}
	text := begin + "\n" + strings.Join(body, "\n") + "\n-----END " + label + "-----\n"
	switch k {
	case kindGo:
		f.write("const deployKey = `\n")
	case kindPy:
		f.write("DEPLOY_KEY = \"\"\"\n")
	case kindJS:
		f.write("const deployKey = `\n")
	case kindJava:
		f.write("    /* deploy key\n")
	case kindYAML:
		f.write("tls_key: |\n")
	}
	if k == kindYAML {
		text = "  " + strings.ReplaceAll(strings.TrimSuffix(text, "\n"), "\n", "\n  ") + "\n"
	}
	f.plant("secret", "private_key", begin, text)
	switch k {
	case kindGo, kindJS:
		f.write("`\n")
	case kindPy:
		f.write("\"\"\"\n")
	case kindJava:
		f.write("    */\n")
	}
}

func (g *gen) jwt() string {
	hdr := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"` + g.pick([]string{"HS256", "RS256", "ES256"}) + `","typ":"JWT"}`))
	pl := base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, `{"sub":"%d","name":"%s %s","iat":%d,"exp":%d,"scope":"%s"}`,
		g.r.IntN(1e7), title(g.pick(firstNames)), title(g.pick(lastNames)), 1.7e9+g.r.IntN(1e8), 1.8e9+g.r.IntN(1e8), g.w()))
	return hdr + "." + pl + "." + g.rnd(43, alnum+"_-")
}

// ---------------------------------------------------------------- personal data

func (g *gen) plantPII(f *fileGen, k kind) {
	r := g.r
	var typ, v string
	switch r.IntN(6) {
	case 0:
		typ, v = "card", g.card(true)
	case 1:
		typ, v = "iban", g.iban(true)
	case 2:
		typ, v = "cn_resident_id", g.cnID(true)
	case 3:
		typ, v = "email", g.email()
	case 4:
		typ, v = "phone", g.cnMobile()
	case 5:
		typ, v = "phone", g.e164()
	}
	name := title(g.pick(firstNames)) + " " + title(g.pick(lastNames))
	var line string
	switch k {
	case kindLog:
		line = fmt.Sprintf("2026-%02d-%02dT%02d:%02d:%02d.%03dZ INFO [%s] %s customer=%q %s=%s\n", 1+r.IntN(12), 1+r.IntN(28), r.IntN(24), r.IntN(60), r.IntN(60), r.IntN(1000),
			g.pick(projects), g.pick([]string{"profile updated", "checkout", "kyc check", "signup"}), name, piiField(typ), v)
	case kindCSV:
		line = fmt.Sprintf("%d,%s,%s,%d.%02d,EUR,2025-%02d-%02d 12:00,paid,%s\n", r.IntN(1e8), name, g.pick(cities), r.IntN(1000), r.IntN(100), 1+r.IntN(12), 1+r.IntN(28), v)
	case kindJSON:
		line = fmt.Sprintf("{\"id\":%d,\"name\":%q,\"%s\":\"%s\",\"city\":\"%s\"}\n", r.IntN(1e8), name, piiField(typ), v, g.pick(cities))
	default:
		line = g.assignment(k, "customer_"+piiField(typ), v)
	}
	f.plant("pii", typ, v, line)
}

func piiField(typ string) string {
	switch typ {
	case "card":
		return "card_number"
	case "iban":
		return "iban"
	case "cn_resident_id":
		return "id_card"
	case "email":
		return "email"
	}
	return "phone"
}

// luhnDigit returns the check digit that makes body+digit pass Luhn.
func luhnDigit(body string) byte {
	sum := 0
	for i := len(body) - 1; i >= 0; i-- {
		d := int(body[i] - '0')
		if (len(body)-1-i)%2 == 0 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return byte('0' + (10-sum%10)%10)
}

func luhnValid(d string) bool {
	return len(d) > 1 && luhnDigit(d[:len(d)-1]) == d[len(d)-1]
}

// card returns a card number with a real issuer prefix, valid (or, for a
// decoy, failing) Luhn, plain or grouped.
func (g *gen) card(valid bool) string {
	var body string
	switch g.r.IntN(4) {
	case 0:
		body = "4" + g.rnd(14, digits) // Visa 16
	case 1:
		body = strconv.Itoa(51+g.r.IntN(5)) + g.rnd(13, digits) // Mastercard 16
	case 2:
		body = g.pick([]string{"34", "37"}) + g.rnd(12, digits) // Amex 15
	default:
		body = "62" + g.rnd(13, digits) // UnionPay 16
	}
	c := luhnDigit(body)
	if !valid {
		c = '0' + (c-'0'+1+byte(g.r.IntN(8)))%10
	}
	d := body + string(c)
	if len(d) == 16 && g.r.IntN(3) == 0 {
		sep := g.pick([]string{" ", "-"})
		return d[:4] + sep + d[4:8] + sep + d[8:12] + sep + d[12:]
	}
	return d
}

var ibanCountries = []struct {
	cc   string
	bban func(g *gen) string
}{
	{"DE", func(g *gen) string { return g.rnd(18, digits) }},
	{"GB", func(g *gen) string { return g.pick([]string{"NWBK", "BARC", "HBUK", "LOYD"}) + g.rnd(14, digits) }},
	{"FR", func(g *gen) string { return g.rnd(10, digits) + g.rnd(11, upperN) + g.rnd(2, digits) }},
	{"NL", func(g *gen) string { return g.pick([]string{"ABNA", "INGB", "RABO"}) + g.rnd(10, digits) }},
	{"ES", func(g *gen) string { return g.rnd(20, digits) }},
}

func ibanMod97(s string) int {
	r := s[4:] + s[:4]
	m := 0
	for i := 0; i < len(r); i++ {
		c := r[i]
		if c >= '0' && c <= '9' {
			m = (m*10 + int(c-'0')) % 97
		} else {
			m = (m*100 + int(c-'A'+10)) % 97
		}
	}
	return m
}

// iban returns an IBAN with a valid (or, for a decoy, wrong) mod-97
// check, compact or in groups of four.
func (g *gen) iban(valid bool) string {
	c := ibanCountries[g.r.IntN(len(ibanCountries))]
	bban := c.bban(g)
	check := 98 - ibanMod97(c.cc+"00"+bban)
	if !valid {
		check = (check+1+g.r.IntN(90))%97 + 2
		if check == 98-ibanMod97(c.cc+"00"+bban) {
			check = check%97 + 2
		}
	}
	s := fmt.Sprintf("%s%02d%s", c.cc, check, bban)
	if g.r.IntN(2) == 0 {
		var b strings.Builder
		for i := 0; i < len(s); i += 4 {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(s[i:min(i+4, len(s))])
		}
		return b.String()
	}
	return s
}

var cnRegions = []string{"110105", "110108", "310104", "310115", "440305", "440106", "330106", "510107", "420106", "320102", "370202", "500103"}

// cnID returns a Chinese resident identity number (GB 11643) with a valid
// (or, for a decoy, wrong) ISO 7064 mod 11-2 check character.
func (g *gen) cnID(valid bool) string {
	body := g.pick(cnRegions) + fmt.Sprintf("%04d%02d%02d", 1955+g.r.IntN(50), 1+g.r.IntN(12), 1+g.r.IntN(28)) + g.rnd(3, digits)
	c := cnCheck(body)
	if !valid {
		const set = "10X98765432"
		i := strings.IndexByte(set, c)
		c = set[(i+1+g.r.IntN(9))%11]
	}
	return body + string(c)
}

func cnCheck(body string) byte {
	weights := [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}
	sum := 0
	for i, w := range weights {
		sum += int(body[i]-'0') * w
	}
	return "10X98765432"[sum%11]
}

func (g *gen) email() string {
	return g.pick(firstNames) + g.pick([]string{".", "_", ""}) + g.pick(lastNames) + strconv.Itoa(g.r.IntN(100)) + "@" + g.pick(domains)
}

func (g *gen) cnMobile() string {
	p := g.pick([]string{"138", "139", "135", "136", "150", "151", "158", "186", "187", "188", "131", "132", "155", "185", "133", "153", "180", "189", "177", "199"})
	return p + g.rnd(8, digits)
}

func (g *gen) e164() string {
	switch g.r.IntN(4) {
	case 0:
		return "+86" + g.cnMobile()
	case 1:
		return "+447" + g.pick([]string{"4", "5", "7", "8", "9"}) + g.rnd(8, digits)
	case 2:
		return "+4915" + g.rnd(9, digits)
	default:
		return "+33" + g.pick([]string{"6", "7"}) + g.rnd(8, digits)
	}
}

// ---------------------------------------------------------------- decoys

// plantDecoy plants something that looks like a secret or personal datum
// but is not one: documented examples, near misses, identifiers, hashes,
// placeholders, numbers that fail their check digit.
func (g *gen) plantDecoy(f *fileGen, k kind) {
	r := g.r
	d := func(typ, name, v string) { f.plant("decoy", "decoy:"+typ, v, g.assignment(k, name, v)) }
	switch r.IntN(16) {
	case 0:
		d("aws_example", "aws_access_key_id", "AKIAIOSFODNN7EXAMPLE")
	case 1:
		d("aws_example", "aws_secret_access_key", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
	case 2:
		d("uuid", g.pick([]string{"request_id", "tenant_id", "correlation_id", "session_id"}), fmt.Sprintf("%s-%s-4%s-%s%s-%s", g.rnd(8, hexd), g.rnd(4, hexd), g.rnd(3, hexd), g.pick([]string{"8", "9", "a", "b"}), g.rnd(3, hexd), g.rnd(12, hexd)))
	case 3:
		d("sha256", g.pick([]string{"checksum", "sha256", "digest", "content_hash"}), g.rnd(64, hexd))
	case 4:
		d("git_sha", g.pick([]string{"commit", "revision", "git_sha"}), g.rnd(40, hexd))
	case 5:
		d("placeholder", g.pick([]string{"db_password", "api_key", "secret_key", "password"}), g.pick([]string{"${DB_PASSWORD}", "<your-api-key>", "changeme", "{{ .Values.secret }}", "REPLACE_ME", "xxxxxxxxxxxxxxxx", "********"}))
	case 6:
		d("near_miss_aws", g.pick([]string{"build_tag", "ref", "asset_id"}), "AKIA"+g.rnd(12, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")) // too short
	case 7:
		d("near_miss_github", g.pick([]string{"build_tag", "ref", "asset_id"}), "ghp_"+g.rnd(20, alnum)) // too short
	case 8:
		d("stripe_publishable", "stripe_publishable_key", "pk_live_"+g.rnd(24, alnum))
	case 9:
		d("card_bad_luhn", "card_number", g.card(false))
	case 10:
		d("iban_bad_check", "iban", g.iban(false))
	case 11:
		d("cn_id_bad_check", "id_card", g.cnID(false))
	case 12:
		d("test_card", "card_number", g.pick([]string{"4111111111111111", "4242424242424242", "5555555555554444", "378282246310005"}))
	case 13:
		d("epoch_millis", g.pick([]string{"created_ms", "ts", "timestamp"}), strconv.FormatInt(1700000000000+r.Int64N(1e11), 10))
	case 14:
		d("integrity", "integrity", "sha512-"+base64.StdEncoding.EncodeToString([]byte(g.rnd(64, alnum))))
	case 15:
		d("private_ip", g.pick([]string{"upstream", "bind_addr", "peer"}), fmt.Sprintf("10.%d.%d.%d", r.IntN(256), r.IntN(256), 1+r.IntN(254)))
	}
}

// title upper-cases the first letter of an ASCII word.
func title(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}
