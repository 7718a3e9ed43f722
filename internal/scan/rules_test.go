package scan

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	mrand "math/rand/v2"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// Character sets for generated test values.
const (
	setAlnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	setTok   = setAlnum + "_-"
	setB64   = setAlnum + "+/"
	setHex   = "0123456789abcdef"
	setUpper = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	setLower = "abcdefghijklmnopqrstuvwxyz0123456789"
	setAlpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	setDig   = "0123456789"
)

// gen makes deterministic random-looking strings.
type gen struct{ r *mrand.Rand }

func newGen(seed uint64) *gen { return &gen{mrand.New(mrand.NewPCG(seed, 42))} }

func (g *gen) s(n int, set string) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = set[g.r.IntN(len(set))]
	}
	return string(b)
}

func (g *gen) uuid() string {
	return g.s(8, setHex) + "-" + g.s(4, setHex) + "-" + g.s(4, setHex) + "-" + g.s(4, setHex) + "-" + g.s(12, setHex)
}

// b64lines is n lines of 64 base64 characters.
func (g *gen) b64lines(n int) string {
	var lines []string
	for range n {
		lines = append(lines, g.s(64, setB64))
	}
	return strings.Join(lines, "\n")
}

func pemOf(t *testing.T, typ string, der []byte) string {
	t.Helper()
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

// secretSamples returns, for every default secret rule, a line it must
// find.
func secretSamples(t *testing.T) map[string]string {
	t.Helper()
	g := newGen(7)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalECPrivateKey(ecKey)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	pk8, _ := x509.MarshalPKCS8PrivateKey(edKey)
	sshBlock, err := ssh.MarshalPrivateKey(edKey, "")
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.StdEncoding.EncodeToString
	raw := base64.RawURLEncoding.EncodeToString
	jwt := raw([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + raw([]byte(`{"sub":"u-8812","iat":1716239022}`)) + "." + g.s(43, setTok)

	return map[string]string{
		"aws-access-key-id":               "AWS_ACCESS_KEY_ID=AKIA" + g.s(16, setUpper),
		"aws-secret-access-key":           `aws_secret_access_key = "` + g.s(40, setB64) + `"`,
		"aws-secret-key-near-id":          "creds AKIA" + g.s(16, setUpper) + " " + g.s(40, setB64),
		"aws-session-token":               "AWS_SESSION_TOKEN=" + g.s(150, setB64),
		"aws-mws-key":                     "mws amzn.mws." + g.uuid(),
		"aws-bedrock-api-key":             "key ABSK" + g.s(120, setB64),
		"gcp-api-key":                     `"api": "AIza` + g.s(35, setTok) + `"`,
		"gcp-service-account-key":         `  "private_key": "-----BEGIN PRIVATE KEY-----\n` + g.s(64, setB64) + `\n` + g.s(64, setB64) + `\n-----END PRIVATE KEY-----\n",`,
		"gcp-oauth-client-secret":         "secret GOCSPX-" + g.s(28, setTok),
		"gcp-oauth-access-token":          "auth ya29." + g.s(60, setTok),
		"gcp-oauth-refresh-token":         "refresh 1//0" + g.s(60, setTok),
		"azure-storage-connection-string": "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=" + g.s(86, setB64) + "==;EndpointSuffix=core.windows.net",
		"azure-storage-account-key":       "AZURE_STORAGE_KEY=" + g.s(86, setB64) + "==",
		"azure-sas-token":                 "https://a.blob.core.windows.net/c?sv=2022-11-02&ss=b&srt=o&sp=r&se=2030-01-01T00:00:00Z&sig=" + g.s(43, setAlnum) + "%3D",
		"azure-shared-access-key":         "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=root;SharedAccessKey=" + g.s(43, setB64) + "=",
		"azure-ad-client-secret":          `client: "` + g.s(3, setAlnum) + "8Q~" + g.s(34, setAlnum) + `"`,
		"azure-client-secret":             "AZURE_CLIENT_SECRET=" + g.s(40, setAlnum),
		"azure-devops-pat":                "AZURE_DEVOPS_PAT=" + g.s(52, setLower),
		"azure-cosmosdb-key":              "COSMOS_KEY=" + g.s(86, setB64) + "==",
		"alibaba-access-key-id":           "ak LTAI" + g.s(20, setAlnum),
		"alibaba-secret-key":              "ALIBABA_CLOUD_ACCESS_KEY_SECRET=" + g.s(30, setAlnum),
		"alibaba-secret-near-id":          "LTAI" + g.s(20, setAlnum) + " " + g.s(30, setAlnum),
		"tencent-secret-id":               "id AKID" + g.s(32, setAlnum),
		"tencent-secret-key":              "TENCENTCLOUD_SECRET_KEY=" + g.s(32, setAlnum),
		"tencent-secret-near-id":          "AKID" + g.s(32, setAlnum) + " " + g.s(32, setAlnum),
		"huawei-cloud-secret-key":         "HUAWEICLOUD_SK=" + g.s(40, setAlnum),
		"baidu-cloud-secret-key":          "BAIDU_SECRET_KEY=" + g.s(32, setHex),
		"wechat-app-secret":               "WECHAT_APP_SECRET=" + g.s(32, setHex),
		"dingtalk-webhook":                "https://oapi.dingtalk.com/robot/send?access_token=" + g.s(64, setHex),
		"feishu-webhook":                  "https://open.feishu.cn/open-apis/bot/v2/hook/" + g.uuid(),
		"wecom-webhook":                   "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=" + g.uuid(),
		"github-pat":                      "token ghp_" + g.s(36, setAlnum),
		"github-oauth":                    "token gho_" + g.s(36, setAlnum),
		"github-user-to-server-token":     "token ghu_" + g.s(36, setAlnum),
		"github-app-token":                "token ghs_" + g.s(36, setAlnum),
		"github-refresh-token":            "token ghr_" + g.s(76, setAlnum),
		"github-fine-grained-pat":         "token github_pat_" + g.s(82, setAlnum+"_"),
		"gitlab-pat":                      "token glpat-" + g.s(20, setTok),
		"gitlab-ptt":                      "token glptt-" + g.s(40, setHex),
		"gitlab-rrt":                      "token GR1348941" + g.s(20, setTok),
		"gitlab-runner-token":             "token glrt-" + g.s(20, setTok),
		"gitlab-deploy-token":             "token gldt-" + g.s(20, setTok),
		"gitlab-feed-token":               "token glft-" + g.s(20, setTok),
		"gitlab-oauth-secret":             "token gloas-" + g.s(64, setTok),
		"gitlab-scim-token":               "token glsoat-" + g.s(20, setTok),
		"gitlab-kubernetes-agent-token":   "token glagent-" + g.s(50, setTok),
		"gitlab-incoming-mail-token":      "token glimt-" + g.s(25, setTok),
		"gitlab-cicd-job-token":           "token glcbt-64_" + g.s(20, setTok),
		"bitbucket-app-password":          "pw ATBB" + g.s(32, setAlnum),
		"bitbucket-client-secret":         "BITBUCKET_CLIENT_SECRET=" + g.s(40, setAlnum),
		"atlassian-api-token":             "jira ATATT3" + g.s(186, setTok),
		"git-credential-url":              "url = https://deploy:" + g.s(20, setAlnum) + "@github.com/org/repo.git",
		"slack-bot-token":                 "xoxb-" + g.s(11, setDig) + "-" + g.s(12, setDig) + "-" + g.s(24, setAlnum),
		"slack-user-token":                "xoxp-" + g.s(11, setDig) + "-" + g.s(11, setDig) + "-" + g.s(12, setDig) + "-" + g.s(32, setHex),
		"slack-app-token":                 "xapp-1-A" + g.s(10, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") + "-" + g.s(13, setDig) + "-" + g.s(64, setHex),
		"slack-config-token":              "xoxe.xoxp-1-" + g.s(164, setUpper),
		"slack-legacy-token":              "xoxs-" + g.s(10, setDig) + "-" + g.s(10, setDig) + "-" + g.s(20, setLower),
		"slack-webhook-url":               "https://hooks.slack.com/services/T" + g.s(8, setUpper) + "/B" + g.s(8, setUpper) + "/" + g.s(24, setAlnum),
		"discord-webhook":                 "https://discord.com/api/webhooks/" + g.s(18, setDig) + "/" + g.s(68, setTok),
		"discord-bot-token":               `discord_bot = "M` + g.s(23, setAlnum) + "." + g.s(6, setAlnum) + "." + g.s(27, setAlnum) + `"`,
		"telegram-bot-token":              "bot " + g.s(10, setDig) + ":AA" + g.s(33, setTok),
		"microsoft-teams-webhook":         "https://acme.webhook.office.com/webhookb2/" + g.uuid() + "@" + g.uuid() + "/IncomingWebhook/" + g.s(32, setHex) + "/" + g.uuid(),
		"mattermost-access-token":         "MATTERMOST_TOKEN=" + g.s(26, "abcdefghijklmnopqrstuvwxyz0123456789"),
		"stripe-secret-key":               "stripe sk_live_" + g.s(24, setAlnum),
		"stripe-restricted-key":           "stripe rk_live_" + g.s(24, setAlnum),
		"stripe-test-key":                 "stripe sk_test_" + g.s(24, setAlnum),
		"stripe-webhook-secret":           "whsec_" + g.s(32, setAlnum),
		"square-access-token":             "square EAAA" + g.s(60, setTok),
		"square-oauth-secret":             "square sq0csp-" + g.s(43, setTok),
		"braintree-access-token":          "bt access_token$production$" + g.s(16, setLower) + "$" + g.s(32, setHex),
		"paypal-client-secret":            "PAYPAL_CLIENT_SECRET=" + g.s(70, setTok),
		"shopify-access-token":            "shpat_" + g.s(32, setHex),
		"shopify-custom-access-token":     "shpca_" + g.s(32, setHex),
		"shopify-private-app-token":       "shppa_" + g.s(32, setHex),
		"shopify-shared-secret":           "shpss_" + g.s(32, setHex),
		"flutterwave-secret-key":          "FLWSECK-" + g.s(32, "abcdefgh0123456789") + "-X",
		"gocardless-api-token":            `gocardless_token = "live_` + g.s(40, setTok) + `"`,
		"easypost-api-token":              "EZAK" + g.s(54, setAlnum),
		"shippo-api-token":                "shippo_live_" + g.s(40, setHex),
		"twilio-api-key":                  "TWILIO_API_KEY=SK" + g.s(32, setHex),
		"twilio-auth-token":               "TWILIO_AUTH_TOKEN=" + g.s(32, setHex),
		"sendgrid-api-token":              "SG." + g.s(22, setTok) + "." + g.s(43, setTok),
		"mailgun-private-api-token":       "mg key-" + g.s(32, setHex),
		"mailgun-pub-key":                 "mg pubkey-" + g.s(32, setHex),
		"mailgun-signing-key":             "MAILGUN_WEBHOOK_SIGNING_KEY=" + g.s(32, "abcdefgh0123456789") + "-" + g.s(8, "abcdefgh0123456789") + "-" + g.s(8, "abcdefgh0123456789"),
		"mailchimp-api-key":               "mc " + g.s(32, setHex) + "-us12",
		"sendinblue-api-token":            "xkeysib-" + g.s(64, setHex) + "-" + g.s(16, setAlnum),
		"postmark-server-token":           "POSTMARK_SERVER_TOKEN=" + g.uuid(),
		"npm-access-token":                "npm_" + g.s(36, setAlnum),
		"npmrc-auth-token":                "//registry.npmjs.org/:_authToken=" + g.s(40, setTok),
		"pypi-upload-token":               "pypi-AgEIcHlwaS5vcmc" + g.s(60, setTok),
		"rubygems-api-token":              "rubygems_" + g.s(48, setHex),
		"nuget-api-key":                   "nuget oy2" + g.s(43, setLower),
		"clojars-api-token":               "CLOJARS_" + g.s(60, setLower),
		"dockerhub-pat":                   "dckr_pat_" + g.s(27, setTok),
		"docker-config-auth":              `{"auths":{"registry.acme.io":{"auth":"` + b64([]byte("ci-bot:"+g.s(16, setAlnum))) + `"}}}`,
		"artifactory-api-key":             "AKCp" + g.s(69, setAlnum),
		"artifactory-reference-token":     "cmVmdGtuOjAxOj" + g.s(55, setAlnum),
		"heroku-api-key":                  "HEROKU_API_KEY=" + g.uuid(),
		"heroku-api-key-v2":               "HRKU-AA" + g.s(58, setTok),
		"digitalocean-pat":                "dop_v1_" + g.s(64, setHex),
		"digitalocean-access-token":       "doo_v1_" + g.s(64, setHex),
		"digitalocean-refresh-token":      "dor_v1_" + g.s(64, setHex),
		"linear-api-key":                  "lin_api_" + g.s(40, setAlnum),
		"postman-api-token":               "PMAK-" + g.s(24, setHex) + "-" + g.s(34, setHex),
		"pulumi-api-token":                "pul-" + g.s(40, setHex),
		"doppler-api-token":               "dp.pt." + g.s(43, setAlnum),
		"planetscale-api-token":           "pscale_tkn_" + g.s(40, setTok),
		"databricks-api-token":            "dapi" + g.s(32, setHex),
		"flyio-access-token":              "fo1_" + g.s(43, setTok),
		"netlify-access-token":            "NETLIFY_AUTH_TOKEN=" + g.s(43, setTok),
		"vercel-access-token":             "VERCEL_TOKEN=" + g.s(24, setAlnum),
		"supabase-access-token":           "sbp_" + g.s(40, setHex),
		"cloudflare-api-token":            "CLOUDFLARE_API_TOKEN=" + g.s(40, setTok),
		"cloudflare-origin-ca-key":        "v1.0-" + g.s(24, setHex) + "-" + g.s(146, setHex),
		"prefect-api-token":               "pnu_" + g.s(36, setAlnum),
		"readme-api-token":                "rdme_" + g.s(70, setLower),
		"scalingo-api-token":              "tk-us-" + g.s(48, setTok),
		"typeform-api-token":              "tfp_" + g.s(59, setTok),
		"contentful-pat":                  "CFPAT-" + g.s(43, setTok),
		"frameio-api-token":               "fio-u-" + g.s(64, setTok),
		"hubspot-private-app-token":       "pat-na1-" + g.uuid(),
		"asana-pat":                       `asana_token = "1/` + g.s(16, setDig) + ":" + g.s(32, setAlnum) + `"`,
		"snyk-api-token":                  "SNYK_TOKEN=" + g.uuid(),
		"zendesk-api-token":               "ZENDESK_API_TOKEN=" + g.s(40, setAlnum),
		"algolia-api-key":                 "ALGOLIA_ADMIN_KEY=" + g.s(32, setHex),
		"age-secret-key":                  "AGE-SECRET-KEY-1" + g.s(58, "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L"),
		"openai-api-key":                  "sk-proj-" + g.s(20, setTok) + "T3BlbkFJ" + g.s(20, setTok),
		"openai-project-key":              "sk-proj-" + g.s(120, setTok),
		"anthropic-api-key":               "sk-ant-api03-" + g.s(93, setTok) + "AA",
		"anthropic-admin-key":             "sk-ant-admin01-" + g.s(93, setTok) + "AA",
		"huggingface-access-token":        "hf_" + g.s(34, setAlpha),
		"huggingface-org-token":           "api_org_" + g.s(34, setAlpha),
		"replicate-api-token":             "r8_" + g.s(37, setAlnum),
		"groq-api-key":                    "gsk_" + g.s(52, setAlnum),
		"datadog-api-key":                 "DD_API_KEY=" + g.s(32, setHex),
		"datadog-app-key":                 "DD_APP_KEY=" + g.s(40, setHex),
		"new-relic-user-api-key":          "NRAK-" + g.s(27, setUpper),
		"new-relic-insert-key":            "NRII-" + g.s(32, setTok),
		"new-relic-browser-api-token":     "NRJS-" + g.s(19, setHex),
		"new-relic-license-key":           "license " + g.s(36, setHex) + "NRAL",
		"sentry-dsn":                      "dsn https://" + g.s(32, setHex) + "@o123456.ingest.sentry.io/4505",
		"sentry-org-token":                "sntrys_eyJ" + g.s(100, setTok),
		"sentry-user-token":               "sntryu_" + g.s(64, setHex),
		"grafana-api-key":                 "eyJrIjoi" + g.s(80, setAlnum),
		"grafana-cloud-api-token":         "glc_" + g.s(40, setAlnum),
		"grafana-service-account-token":   "glsa_" + g.s(32, setAlnum) + "_" + g.s(8, setHex),
		"dynatrace-api-token":             "dt0c01." + g.s(24, setUpper) + "." + g.s(64, setUpper),
		"honeycomb-api-key":               "HONEYCOMB_API_KEY=" + g.s(22, setAlnum),
		"okta-access-token":               "OKTA_API_TOKEN=00" + g.s(40, setTok),
		"vault-service-token":             "hvs." + g.s(100, setTok),
		"vault-batch-token":               "hvb." + g.s(150, setTok),
		"vault-legacy-token":              "VAULT_TOKEN=s." + g.s(24, setAlnum),
		"hashicorp-tf-api-token":          g.s(14, setAlnum) + ".atlasv1." + g.s(67, setTok),
		"kubernetes-client-key-data":      "    client-key-data: " + g.s(200, setB64),
		"jwt":                             "Authorization: Bearer " + jwt,
		"facebook-access-token":           "EAACEdEose0cBA" + g.s(40, setAlnum),
		"facebook-app-secret":             "FACEBOOK_APP_SECRET=" + g.s(32, setHex),
		"twitter-bearer-token":            "AAAAAAAAAAAAAAAAAAAAA" + g.s(80, setAlnum),
		"mapbox-api-token":                "sk.eyJ1IjoiYWNtZSIsImEiOi" + g.s(60, setTok),
		"dropbox-short-lived-token":       "sl." + g.s(140, setTok),
		"dropbox-long-lived-token":        "DROPBOX_TOKEN=" + g.s(11, setAlnum) + "AAAAAAAAAA" + g.s(43, setTok),
		"private-key-rsa":                 pemOf(t, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey)),
		"private-key-ec":                  pemOf(t, "EC PRIVATE KEY", ecDER),
		"private-key-dsa":                 "-----BEGIN DSA PRIVATE KEY-----\n" + g.b64lines(6) + "\n-----END DSA PRIVATE KEY-----\n",
		"private-key-pkcs8":               pemOf(t, "PRIVATE KEY", pk8),
		"private-key-encrypted":           "-----BEGIN ENCRYPTED PRIVATE KEY-----\n" + g.b64lines(5) + "\n-----END ENCRYPTED PRIVATE KEY-----\n",
		"private-key-openssh":             string(pem.EncodeToMemory(sshBlock)),
		"private-key-pgp":                 "-----BEGIN PGP PRIVATE KEY BLOCK-----\nVersion: GnuPG v2\n\n" + g.b64lines(8) + "\n=" + g.s(4, setB64) + "\n-----END PGP PRIVATE KEY BLOCK-----\n",
		"private-key-ssh2":                "---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----\nComment: \"rsa-key-20240101\"\n" + g.b64lines(6) + "\n---- END SSH2 ENCRYPTED PRIVATE KEY ----\n",
		"private-key-putty":               "PuTTY-User-Key-File-2: ssh-rsa\nEncryption: none\nComment: k\nPublic-Lines: 2\n" + g.b64lines(2) + "\nPrivate-Lines: 2\n" + g.b64lines(2) + "\nPrivate-MAC: " + g.s(40, setHex) + "\n",
		"postgres-url-password":           "DATABASE_URL=postgres://app:" + g.s(16, setAlnum) + "@db.acme.internal:5432/app",
		"mysql-url-password":              "dsn: mysql://app:" + g.s(16, setAlnum) + "@db.acme.internal:3306/app",
		"mongodb-url-password":            "MONGO_URL=mongodb+srv://app:" + g.s(16, setAlnum) + "@cluster0.acme.mongodb.net/app",
		"redis-url-password":              "REDIS_URL=redis://:" + g.s(16, setAlnum) + "@cache.acme.internal:6379/0",
		"amqp-url-password":               "AMQP_URL=amqp://app:" + g.s(16, setAlnum) + "@mq.acme.internal:5672/",
		"sqlserver-url-password":          "Server=tcp:db.acme.net,1433;Database=app;User ID=sa;Password=" + g.s(16, setAlnum) + ";",
		"jdbc-url-password":               "url=jdbc:mysql://db.acme.net:3306/app?user=app&password=" + g.s(16, setAlnum),
		"service-url-password":            "BACKUP=ftp://backup:" + g.s(16, setAlnum) + "@ftp.acme.net/dumps",
		"http-basic-auth":                 "Authorization: Basic " + b64([]byte("admin:"+g.s(12, setAlnum))),
		"generic-bearer-token":            "Authorization: Bearer " + g.s(40, setAlnum),
		"generic-password":                `db_password = "Tr0ub4dor&3xK"`,
		"generic-api-key":                 `api_key: "` + g.s(32, setAlnum) + `"`,
	}
}

func defaultEngine(t testing.TB) *Engine {
	t.Helper()
	e, err := NewEngine(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func scanString(e *Engine, s, path string) []Finding {
	return e.ScanChunk([]byte(s), 0, Location{Path: path})
}

func findRule(fs []Finding, id string) *Finding {
	for i := range fs {
		if fs[i].Rule == id {
			return &fs[i]
		}
	}
	return nil
}

// TestSecretRulesFire proves every default secret rule finds its sample,
// reports the value it was built with in the finding, masks it, and that
// there is a sample for every rule.
func TestSecretRulesFire(t *testing.T) {
	e := defaultEngine(t)
	samples := secretSamples(t)
	cfg := DefaultConfig()
	n := 0
	for _, r := range cfg.Rules {
		if r.Detector != "" {
			continue
		}
		n++
		text, ok := samples[r.ID]
		if !ok {
			t.Errorf("rule %s has no sample", r.ID)
			continue
		}
		t.Run(r.ID, func(t *testing.T) {
			fs := scanString(e, "\n"+text+"\n", "deploy/app.env")
			f := findRule(fs, r.ID)
			if f == nil {
				t.Fatalf("not found in %q; got %v", text, rulesOf(fs))
			}
			if f.Type != r.Type || !strings.HasPrefix(f.Type, "secret:") {
				t.Errorf("type %q, want %q", f.Type, r.Type)
			}
			if !strings.Contains(text, f.Value) || f.Value == "" {
				t.Errorf("value %q not in sample", f.Value)
			}
			if f.Confidence < Possible {
				t.Errorf("confidence %v", f.Confidence)
			}
			checkMasked(t, *f)
		})
	}
	if n < 100 {
		t.Errorf("%d secret rules, want at least 100", n)
	}
}

func rulesOf(fs []Finding) []string {
	var ids []string
	for _, f := range fs {
		ids = append(ids, f.Rule+"("+f.Confidence.String()+")")
	}
	return ids
}

// checkMasked checks that Masked hides the value: it is not the value,
// does not contain it, and shows at most 8 of its characters.
func checkMasked(t *testing.T, f Finding) {
	t.Helper()
	if f.Masked == f.Value || (len(f.Value) > 0 && strings.Contains(f.Masked, f.Value)) {
		t.Errorf("Masked %q leaks %q", f.Masked, f.Value)
	}
	if shown := len(f.Masked) - strings.Count(f.Masked, "*"); shown > 8 || shown > len(f.Value)*2/5 {
		t.Errorf("Masked %q shows %d characters of %d", f.Masked, shown, len(f.Value))
	}
}

// TestSecretNearMisses lists strings that look like secrets but are not:
// documented examples, placeholders, hashes and ids.
func TestSecretNearMisses(t *testing.T) {
	e := defaultEngine(t)
	g := newGen(99)
	tests := []struct {
		name, text string
	}{
		{"aws documented key id", "aws_access_key_id = AKIAIOSFODNN7EXAMPLE"},
		{"aws documented secret", "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"},
		{"placeholder x", "aws_secret_access_key = xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"},
		{"placeholder your key", `api_key: "your_api_key_here_1234567"`},
		{"env reference", `password: "${DB_PASSWORD}"`},
		{"template", `token = "{{ .Values.token }}"`},
		{"code reference", "password = config.Database.Password"},
		{"function call", "token := auth.NewToken(ctx, user)"},
		{"dummy value", `secret = "dummy-secret-value-0001"`},
		{"all same", `api_key = "AAAAAAAAAAAAAAAAAAAAAAAAAAAA"`},
		{"uuid", "request_id=" + g.uuid()},
		{"git sha", "commit " + g.s(40, setHex)},
		{"sha256", "sha256:" + g.s(64, setHex)},
		{"sha256 checksum line", g.s(64, setHex) + "  coffer-linux-amd64.tar.gz"},
		{"random base64 blob", "data: " + g.s(88, setB64) + "=="},
		{"base64 without context", g.s(120, setB64)},
		{"short github prefix", "ghp_tooShort123"},
		{"identifier with keyword", "func tokenSecretKeyFromEnvironment() string"},
		{"password prompt", `fmt.Print("Password: ")`},
		{"pem public key", "-----BEGIN PUBLIC KEY-----\n" + g.b64lines(3) + "\n-----END PUBLIC KEY-----"},
		{"pem header only in code", `if strings.HasPrefix(s, "-----BEGIN RSA PRIVATE KEY-----") {`},
		{"jwt-shaped but not json", "ey" + g.s(20, setAlnum) + ".ey" + g.s(20, setAlnum) + "." + g.s(20, setAlnum)},
		{"postgres url without password", "postgres://app@db.acme.internal:5432/app"},
		{"postgres url placeholder", "postgres://user:password@localhost:5432/db"},
		{"stripe publishable", "pk_live_" + g.s(24, setAlnum)},
		{"basic auth not base64 credentials", "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(g.s(12, setAlnum)))},
		{"jwt.io example", "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, f := range scanString(e, tt.text+"\n", "src/app.go") {
				if strings.HasPrefix(f.Type, "secret:") {
					t.Errorf("%q: unexpected %s %s %q", tt.text, f.Rule, f.Confidence, f.Value)
				}
			}
		})
	}
}

// TestRuleTable checks the shape of the default rules: kebab-case unique
// ids, types with a category, keywords for every regex rule.
func TestRuleTable(t *testing.T) {
	cfg := DefaultConfig()
	seen := map[string]bool{}
	for _, r := range cfg.Rules {
		if seen[r.ID] {
			t.Errorf("duplicate id %s", r.ID)
		}
		seen[r.ID] = true
		for _, c := range r.ID {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				t.Errorf("id %q is not kebab-case", r.ID)
				break
			}
		}
		if !strings.HasPrefix(r.Type, "secret:") && !strings.HasPrefix(r.Type, "pii:") {
			t.Errorf("%s: type %q", r.ID, r.Type)
		}
		if r.Detector == "" && len(r.Keywords) == 0 {
			t.Errorf("%s: no keywords", r.ID)
		}
		if r.Description == "" {
			t.Errorf("%s: no description", r.ID)
		}
	}
}
