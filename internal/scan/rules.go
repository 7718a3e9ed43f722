package scan

// The default secret rules. Each rule has keywords (what the automaton
// looks for) and a regular expression run only near them. Rule ids follow
// gitleaks' kebab-case names where gitleaks has the rule. The list of ids
// is in docs/scan-rules.md; TestDocsListRules keeps the two in step.

import (
	"encoding/base64"
	"encoding/json"
	"strings"
)

// assign is the pattern of a value assigned to a name: names (an RE2
// alternation, case-insensitive), up to 20 more name characters, an
// optional closing quote, an assignment operator (=, :, :=, =>), an
// optional opening quote, then the value (the "secret" submatch).
func assignRe(names, value string) string {
	return `(?i:` + names + `)` + assignOp + `(?P<secret>` + value + `)(?:["'\x60\s;,)\]}<&]|\\[nr]|$)`
}

// assignOp is the part of assignRe between the name and the value; the
// engine recognises assignment rules by it.
const assignOp = `[\w.\-]{0,20}["'\x60]?\s*(?:=|:=|:|=>|\?=)\s*["'\x60]?`

// tok is the pattern of a token with a distinctive prefix: not preceded
// by a token character, not followed by one.
func tokenRe(body string) string {
	return `(?:^|[^A-Za-z0-9_\-])(?P<secret>` + body + `)(?:[^A-Za-z0-9_\-]|$)`
}

// pem is the pattern of a PEM-style private key block with the given
// label: header lines (Proc-Type, DEK-Info, Comment) and base64 lines,
// then the END line if it is within reach.
func pemRe(begin, end string) string {
	return `(?P<secret>` + begin + `(?:\r?\n[A-Za-z][A-Za-z-]*: [^\r\n]*)*(?:\r?\n[ \t]*[A-Za-z0-9+/=]{16,}[ \t]*)+(?:\r?\n` + end + `)?)`
}

type ruleOpt func(*Rule)

func withEntropy(h float64) ruleOpt    { return func(r *Rule) { r.Entropy = h } }
func withConf(c Confidence) ruleOpt    { return func(r *Rule) { r.Confidence = c } }
func withValidate(name string) ruleOpt { return func(r *Rule) { r.Validate = name } }
func withWindow(n int) ruleOpt         { return func(r *Rule) { r.Window = n } }
func withContext(words ...string) ruleOpt {
	return func(r *Rule) { r.Context = append(r.Context, words...) }
}
func withAllowValues(v ...string) ruleOpt {
	return func(r *Rule) { r.Allowlist.Values = append(r.Allowlist.Values, v...) }
}

func newRule(id, typ, desc, re string, kws []string, opts ...ruleOpt) Rule {
	r := Rule{ID: id, Type: typ, Description: desc, Regex: re, Keywords: kws, Confidence: Likely}
	for _, o := range opts {
		o(&r)
	}
	return r
}

func kws(words ...string) []string { return words }

const uuidRe = `[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`

// defaultSecretRules returns the secret rules, freshly built.
func defaultSecretRules() []Rule {
	secretCtx := withContext("secret", "token", "key", "password", "credential", "auth", "密钥", "密码")
	// The weak passwords that show up in connection-string examples.
	weak := withAllowValues("password", "passwd", "pass", "pwd", "secret", "changeme", "admin", "root", "user", "username", "postgres", "mysql", "guest", "test", "example", "xxx", "***", "****")
	rs := []Rule{
		// Amazon Web Services.
		newRule("aws-access-key-id", "secret:aws_access_key", "AWS access key id",
			tokenRe(`(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16}`), kws("akia", "asia", "abia", "acca", "a3t"), secretCtx,
			withAllowValues("AKIAIOSFODNN7EXAMPLE", "ASIAIOSFODNN7EXAMPLE")),
		newRule("aws-secret-access-key", "secret:aws_secret_key", "AWS secret access key",
			assignRe(`aws_?secret_?(?:access_?)?key|aws_?secret|secret_?access_?key`, `[A-Za-z0-9/+]{40}`),
			kws("aws_secret", "awssecret", "secret_access_key", "secretaccesskey", "aws-secret", "secret-access-key"), withEntropy(4.0),
			withAllowValues("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")),
		newRule("aws-secret-key-near-id", "secret:aws_secret_key", "AWS secret access key next to an access key id",
			`(?s)(?:AKIA|ASIA)[A-Z0-9]{16}.{0,160}?(?:^|[^A-Za-z0-9/+=])(?P<secret>[A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+=]|$)`,
			kws("akia", "asia"), withWindow(300), withEntropy(4.3), withAllowValues("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")),
		newRule("aws-session-token", "secret:aws_session_token", "AWS session token",
			assignRe(`aws_?session_?token|aws_?security_?token|x-amz-security-token`, `[A-Za-z0-9/+=]{100,1000}`),
			kws("aws_session_token", "awssessiontoken", "aws_security_token", "x-amz-security-token", "aws-session-token"), withWindow(1500)),
		newRule("aws-mws-key", "secret:aws_mws_key", "Amazon MWS auth token",
			`amzn\.mws\.`+uuidRe, kws("amzn.mws.")),
		newRule("aws-bedrock-api-key", "secret:aws_bedrock_key", "Amazon Bedrock API key",
			tokenRe(`ABSK[A-Za-z0-9+/]{109,269}={0,2}`), kws("absk")),

		// Google Cloud.
		newRule("gcp-api-key", "secret:gcp_api_key", "Google API key",
			tokenRe(`AIza[0-9A-Za-z_\-]{35}`), kws("aiza"), secretCtx),
		newRule("gcp-service-account-key", "secret:gcp_service_account_key", "Google service account private key (JSON)",
			`"private_key"\s*:\s*"(?P<secret>-----BEGIN [A-Z ]*PRIVATE KEY-----(?:\\n|[A-Za-z0-9+/=]){64,1000})`,
			kws(`"private_key"`), withWindow(1100)),
		newRule("gcp-oauth-client-secret", "secret:gcp_oauth_client_secret", "Google OAuth client secret",
			tokenRe(`GOCSPX-[A-Za-z0-9_\-]{28}`), kws("gocspx-")),
		newRule("gcp-oauth-access-token", "secret:gcp_oauth_token", "Google OAuth access token",
			tokenRe(`ya29\.[0-9A-Za-z_\-]{30,400}`), kws("ya29.")),
		newRule("gcp-oauth-refresh-token", "secret:gcp_oauth_token", "Google OAuth refresh token",
			`(?:^|[^A-Za-z0-9/])(?P<secret>1//0[A-Za-z0-9_\-]{40,300})`, kws("1//0")),

		// Microsoft Azure.
		newRule("azure-storage-connection-string", "secret:azure_storage_key", "Azure storage account key in a connection string",
			`(?i:AccountKey)=(?P<secret>[A-Za-z0-9+/]{86}==)`, kws("accountkey=")),
		newRule("azure-storage-account-key", "secret:azure_storage_key", "Azure storage account key",
			assignRe(`azure_?storage_?(?:account_?)?key|storage_?account_?key|azure_?account_?key`, `[A-Za-z0-9+/]{86}==`),
			kws("azure_storage", "azurestorage", "storage_account_key", "storageaccountkey", "azure_account_key", "azure-storage")),
		newRule("azure-sas-token", "secret:azure_sas_token", "Azure shared access signature",
			`sv=20\d\d-\d\d-\d\d[^\s"'<>]{0,300}?[?&]sig=(?P<secret>[A-Za-z0-9%/+]{40,100}(?:=|%3[Dd]){0,2})`, kws("sv=20"), withWindow(400)),
		newRule("azure-shared-access-key", "secret:azure_shared_access_key", "Azure Service Bus / Event Hubs shared access key",
			`(?i:SharedAccessKey)=(?P<secret>[A-Za-z0-9+/]{43}=)`, kws("sharedaccesskey=")),
		newRule("azure-ad-client-secret", "secret:azure_client_secret", "Azure AD (Entra ID) client secret",
			`(?:^|[\\'"\x60\s>=:(,])(?P<secret>[A-Za-z0-9_~.]{3}\dQ~[A-Za-z0-9_~.\-]{31,34})(?:$|[\\'"\x60\s<),])`, kws("q~")),
		newRule("azure-client-secret", "secret:azure_client_secret", "Azure client secret assigned to a variable",
			assignRe(`azure_?client_?secret|arm_?client_?secret`, `[A-Za-z0-9_~.\-]{32,44}`),
			kws("azure_client_secret", "azureclientsecret", "arm_client_secret", "azure-client-secret"), withEntropy(3.5)),
		newRule("azure-devops-pat", "secret:azure_devops_token", "Azure DevOps personal access token",
			assignRe(`azure_?devops[\w\-]{0,10}|ado_?pat|vsts[\w\-]{0,10}`, `[a-z0-9]{52}|[A-Za-z0-9]{84}`),
			kws("azure_devops", "azuredevops", "azure-devops", "ado_pat", "vsts")),
		newRule("azure-cosmosdb-key", "secret:azure_cosmosdb_key", "Azure Cosmos DB key",
			assignRe(`cosmos(?:db)?_?(?:primary_?|master_?)?key`, `[A-Za-z0-9+/]{86}==`), kws("cosmos")),

		// Alibaba Cloud, Tencent Cloud, other Chinese clouds and chat.
		newRule("alibaba-access-key-id", "secret:alibaba_access_key", "Alibaba Cloud AccessKey ID",
			tokenRe(`LTAI[A-Za-z0-9]{12,20}`), kws("ltai"), secretCtx),
		newRule("alibaba-secret-key", "secret:alibaba_secret_key", "Alibaba Cloud AccessKey secret",
			assignRe(`ali(?:baba|yun|cloud)?_?(?:access_?key_?)?secret|access_?key_?secret`, `[A-Za-z0-9]{30}`),
			kws("alibaba", "aliyun", "alicloud", "accesskeysecret", "access_key_secret", "access-key-secret", "ali_"), withEntropy(3.5)),
		newRule("alibaba-secret-near-id", "secret:alibaba_secret_key", "Alibaba Cloud AccessKey secret next to an AccessKey ID",
			`(?s)LTAI[A-Za-z0-9]{12,20}.{0,160}?(?:^|[^A-Za-z0-9])(?P<secret>[A-Za-z0-9]{30})(?:[^A-Za-z0-9]|$)`,
			kws("ltai"), withWindow(300), withEntropy(3.8)),
		newRule("tencent-secret-id", "secret:tencent_secret_id", "Tencent Cloud SecretId",
			tokenRe(`AKID[A-Za-z0-9]{32}`), kws("akid"), secretCtx),
		newRule("tencent-secret-key", "secret:tencent_secret_key", "Tencent Cloud SecretKey",
			assignRe(`(?:tencent(?:cloud)?|qcloud|tc|tccli)_?secret_?key`, `[A-Za-z0-9]{32}`),
			kws("tencent", "qcloud", "tc_secret", "tcsecret", "tccli"), withEntropy(3.5)),
		newRule("tencent-secret-near-id", "secret:tencent_secret_key", "Tencent Cloud SecretKey next to a SecretId",
			`(?s)AKID[A-Za-z0-9]{32}.{0,160}?(?:^|[^A-Za-z0-9])(?P<secret>[A-Za-z0-9]{32})(?:[^A-Za-z0-9]|$)`,
			kws("akid"), withWindow(300), withEntropy(3.8)),
		newRule("huawei-cloud-secret-key", "secret:huawei_secret_key", "Huawei Cloud secret access key",
			assignRe(`(?:huawei(?:cloud)?|hwcloud|obs)_?(?:secret_?(?:access_?)?key|sk)`, `[A-Za-z0-9]{40}`),
			kws("huawei", "hwcloud", "obs_secret", "obs_sk"), withEntropy(3.5)),
		newRule("baidu-cloud-secret-key", "secret:baidu_secret_key", "Baidu AI Cloud secret access key",
			assignRe(`(?:baidu|bce)_?(?:secret_?(?:access_?)?key|sk)`, `[a-f0-9]{32}`), kws("baidu", "bce_")),
		newRule("wechat-app-secret", "secret:wechat_app_secret", "WeChat app secret",
			assignRe(`wechat_?(?:app_?)?secret|weixin_?(?:app_?)?secret|wx_?(?:app_?)?secret|app_?secret`, `[a-f0-9]{32}`),
			kws("wechat", "weixin", "wx_", "wxapp", "appsecret", "app_secret")),
		newRule("dingtalk-webhook", "secret:dingtalk_webhook", "DingTalk robot webhook access token",
			`oapi\.dingtalk\.com/robot/send\?access_token=(?P<secret>[a-f0-9]{64})`, kws("oapi.dingtalk.com")),
		newRule("feishu-webhook", "secret:feishu_webhook", "Feishu / Lark bot webhook",
			`open\.(?:feishu\.cn|larksuite\.com)/open-apis/bot/v2/hook/(?P<secret>[a-f0-9\-]{36})`, kws("open.feishu.cn", "open.larksuite.com")),
		newRule("wecom-webhook", "secret:wecom_webhook", "WeCom (WeChat Work) robot webhook key",
			`qyapi\.weixin\.qq\.com/cgi-bin/webhook/send\?key=(?P<secret>[a-f0-9\-]{36})`, kws("qyapi.weixin.qq.com")),

		// Source hosts.
		newRule("github-pat", "secret:github_token", "GitHub personal access token (classic)", tokenRe(`ghp_[A-Za-z0-9]{36}`), kws("ghp_")),
		newRule("github-oauth", "secret:github_token", "GitHub OAuth access token", tokenRe(`gho_[A-Za-z0-9]{36}`), kws("gho_")),
		newRule("github-user-to-server-token", "secret:github_token", "GitHub user-to-server token", tokenRe(`ghu_[A-Za-z0-9]{36}`), kws("ghu_")),
		newRule("github-app-token", "secret:github_token", "GitHub app installation (server-to-server) token", tokenRe(`ghs_[A-Za-z0-9]{36}`), kws("ghs_")),
		newRule("github-refresh-token", "secret:github_token", "GitHub refresh token", tokenRe(`ghr_[A-Za-z0-9]{36,76}`), kws("ghr_")),
		newRule("github-fine-grained-pat", "secret:github_token", "GitHub fine-grained personal access token", tokenRe(`github_pat_[A-Za-z0-9_]{82}`), kws("github_pat_")),
		newRule("gitlab-pat", "secret:gitlab_token", "GitLab personal access token", tokenRe(`glpat-[A-Za-z0-9_\-.]{20,80}`), kws("glpat-")),
		newRule("gitlab-ptt", "secret:gitlab_token", "GitLab pipeline trigger token", tokenRe(`glptt-[0-9a-f]{40}`), kws("glptt-")),
		newRule("gitlab-rrt", "secret:gitlab_token", "GitLab runner registration token", tokenRe(`GR1348941[A-Za-z0-9_\-]{20}`), kws("gr1348941")),
		newRule("gitlab-runner-token", "secret:gitlab_token", "GitLab runner authentication token", tokenRe(`glrt-[A-Za-z0-9_\-.]{20,80}`), kws("glrt-")),
		newRule("gitlab-deploy-token", "secret:gitlab_token", "GitLab deploy token", tokenRe(`gldt-[A-Za-z0-9_\-]{20,80}`), kws("gldt-")),
		newRule("gitlab-feed-token", "secret:gitlab_token", "GitLab feed token", tokenRe(`glft-[A-Za-z0-9_\-]{20}`), kws("glft-")),
		newRule("gitlab-oauth-secret", "secret:gitlab_token", "GitLab OAuth application secret", tokenRe(`gloas-[A-Za-z0-9_\-]{64}`), kws("gloas-")),
		newRule("gitlab-scim-token", "secret:gitlab_token", "GitLab SCIM token", tokenRe(`glsoat-[A-Za-z0-9_\-]{20}`), kws("glsoat-")),
		newRule("gitlab-kubernetes-agent-token", "secret:gitlab_token", "GitLab agent for Kubernetes token", tokenRe(`glagent-[A-Za-z0-9_\-]{50}`), kws("glagent-")),
		newRule("gitlab-incoming-mail-token", "secret:gitlab_token", "GitLab incoming mail token", tokenRe(`glimt-[A-Za-z0-9_\-]{25}`), kws("glimt-")),
		newRule("gitlab-cicd-job-token", "secret:gitlab_token", "GitLab CI/CD job token", tokenRe(`glcbt-[A-Za-z0-9]{1,5}_[A-Za-z0-9_\-]{20}`), kws("glcbt-")),
		newRule("bitbucket-app-password", "secret:bitbucket_token", "Bitbucket app password / API token", tokenRe(`ATBB[A-Za-z0-9_=.\-]{32}`), kws("atbb")),
		newRule("bitbucket-client-secret", "secret:bitbucket_token", "Bitbucket OAuth client secret",
			assignRe(`bitbucket[\w\-]{0,20}secret`, `[A-Za-z0-9=_\-]{32,64}`), kws("bitbucket"), withEntropy(3.5)),
		newRule("atlassian-api-token", "secret:atlassian_token", "Atlassian (Jira, Confluence) API token", tokenRe(`ATATT3[A-Za-z0-9_=\-]{180,200}`), kws("atatt3")),
		newRule("git-credential-url", "secret:git_credential", "Password or token in a git host URL",
			`https?://[^:/\s@"']{1,64}:(?P<secret>[^@\s/"']{6,200})@(?:github\.com|gitlab\.com|bitbucket\.org|dev\.azure\.com)`,
			kws("@github.com", "@gitlab.com", "@bitbucket.org", "@dev.azure.com")),

		// Chat.
		newRule("slack-bot-token", "secret:slack_token", "Slack bot token", tokenRe(`xoxb-[0-9]{10,13}-[0-9]{10,13}-?[A-Za-z0-9]{24,34}`), kws("xoxb-")),
		newRule("slack-user-token", "secret:slack_token", "Slack user token", tokenRe(`xox[pe](?:-[0-9]{10,13}){3}-[A-Za-z0-9]{28,34}`), kws("xoxp-", "xoxe-")),
		newRule("slack-app-token", "secret:slack_token", "Slack app-level token", tokenRe(`xapp-\d-[A-Z0-9]+-\d+-[a-z0-9]+`), kws("xapp-")),
		newRule("slack-config-token", "secret:slack_token", "Slack configuration token", tokenRe(`xoxe\.xox[bp]-\d-[A-Z0-9]{163,166}`), kws("xoxe.xox")),
		newRule("slack-legacy-token", "secret:slack_token", "Slack legacy token", tokenRe(`xox[ars]-(?:\d+-)+[a-z0-9]{8,}`), kws("xoxa-", "xoxr-", "xoxs-")),
		newRule("slack-webhook-url", "secret:slack_webhook", "Slack incoming webhook",
			`(?P<secret>hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9+/]{43,56})`, kws("hooks.slack.com")),
		newRule("discord-webhook", "secret:discord_webhook", "Discord webhook",
			`(?P<secret>discord(?:app)?\.com/api/webhooks/\d+/[A-Za-z0-9_\-]{60,68})`, kws("discord.com/api/webhooks", "discordapp.com/api/webhooks")),
		newRule("discord-bot-token", "secret:discord_token", "Discord bot token",
			`(?:^|[^A-Za-z0-9_\-.])(?P<secret>[MNO][A-Za-z0-9_\-]{23,25}\.[A-Za-z0-9_\-]{6}\.[A-Za-z0-9_\-]{27,38})(?:[^A-Za-z0-9_\-.]|$)`, kws("discord")),
		newRule("telegram-bot-token", "secret:telegram_bot_token", "Telegram bot API token",
			`(?:^|[^0-9A-Za-z])(?P<secret>\d{8,10}:AA[0-9A-Za-z_\-]{33})(?:[^0-9A-Za-z_\-]|$)`, kws(":aa")),
		newRule("microsoft-teams-webhook", "secret:teams_webhook", "Microsoft Teams incoming webhook",
			`(?P<secret>https://[a-z0-9\-]+\.webhook\.office\.com/webhookb2/[a-z0-9@\-]{36,80}/IncomingWebhook/[a-z0-9]{32}/[a-z0-9\-]{36})`, kws("webhook.office.com")),
		newRule("mattermost-access-token", "secret:mattermost_token", "Mattermost access token",
			assignRe(`mattermost[\w\-]{0,20}(?:token|key)`, `[a-z0-9]{26}`), kws("mattermost")),

		// Payments.
		newRule("stripe-secret-key", "secret:stripe_key", "Stripe live secret key", tokenRe(`sk_live_[A-Za-z0-9]{24,247}`), kws("sk_live_"), withConf(VeryLikely)),
		newRule("stripe-restricted-key", "secret:stripe_key", "Stripe live restricted key", tokenRe(`rk_live_[A-Za-z0-9]{24,247}`), kws("rk_live_"), withConf(VeryLikely)),
		newRule("stripe-test-key", "secret:stripe_key", "Stripe test-mode secret key", tokenRe(`[sr]k_test_[A-Za-z0-9]{24,247}`), kws("sk_test_", "rk_test_"), withConf(Possible)),
		newRule("stripe-webhook-secret", "secret:stripe_webhook_secret", "Stripe webhook signing secret", tokenRe(`whsec_[A-Za-z0-9+/]{32,64}`), kws("whsec_")),
		newRule("square-access-token", "secret:square_token", "Square access token", tokenRe(`(?:EAAA|sq0atp-)[0-9A-Za-z_\-]{22,60}`), kws("eaaa", "sq0atp-")),
		newRule("square-oauth-secret", "secret:square_token", "Square OAuth secret", tokenRe(`sq0csp-[0-9A-Za-z_\-]{43}`), kws("sq0csp-")),
		newRule("braintree-access-token", "secret:braintree_token", "Braintree / PayPal access token",
			tokenRe(`access_token\$production\$[0-9a-z]{16}\$[0-9a-f]{32}`), kws("access_token$production$")),
		newRule("paypal-client-secret", "secret:paypal_secret", "PayPal REST client secret",
			assignRe(`paypal[\w\-]{0,20}secret`, `[A-Za-z0-9_\-]{60,80}`), kws("paypal"), withEntropy(3.5)),
		newRule("shopify-access-token", "secret:shopify_token", "Shopify access token", tokenRe(`shpat_[a-fA-F0-9]{32}`), kws("shpat_")),
		newRule("shopify-custom-access-token", "secret:shopify_token", "Shopify custom app access token", tokenRe(`shpca_[a-fA-F0-9]{32}`), kws("shpca_")),
		newRule("shopify-private-app-token", "secret:shopify_token", "Shopify private app access token", tokenRe(`shppa_[a-fA-F0-9]{32}`), kws("shppa_")),
		newRule("shopify-shared-secret", "secret:shopify_token", "Shopify shared secret", tokenRe(`shpss_[a-fA-F0-9]{32}`), kws("shpss_")),
		newRule("flutterwave-secret-key", "secret:flutterwave_key", "Flutterwave secret key", tokenRe(`FLWSECK(?:_TEST)?-[a-h0-9]{32}-X`), kws("flwseck")),
		newRule("gocardless-api-token", "secret:gocardless_token", "GoCardless access token", tokenRe(`live_[A-Za-z0-9_=\-]{40}`), kws("gocardless")),
		newRule("easypost-api-token", "secret:easypost_token", "EasyPost API key", tokenRe(`EZ[AT]K[A-Za-z0-9]{54}`), kws("ezak", "eztk")),
		newRule("shippo-api-token", "secret:shippo_token", "Shippo API token", tokenRe(`shippo_(?:live|test)_[a-f0-9]{40}`), kws("shippo_")),

		// Communication APIs.
		newRule("twilio-api-key", "secret:twilio_key", "Twilio API key SID",
			`(?s)(?i:twilio).{0,200}?(?:^|[^A-Za-z0-9])(?P<secret>SK[0-9a-fA-F]{32})(?:[^A-Za-z0-9]|$)`, kws("twilio"), withWindow(300)),
		newRule("twilio-auth-token", "secret:twilio_key", "Twilio auth token",
			assignRe(`twilio[\w\-]{0,20}(?:auth_?)?(?:token|secret)`, `[0-9a-f]{32}`), kws("twilio")),
		newRule("sendgrid-api-token", "secret:sendgrid_key", "SendGrid API key", tokenRe(`SG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43}`), kws("sg.")),
		newRule("mailgun-private-api-token", "secret:mailgun_key", "Mailgun private API key", tokenRe(`key-[0-9a-f]{32}`), kws("key-")),
		newRule("mailgun-pub-key", "secret:mailgun_key", "Mailgun public validation key", tokenRe(`pubkey-[0-9a-f]{32}`), kws("pubkey-"), withConf(Possible)),
		newRule("mailgun-signing-key", "secret:mailgun_key", "Mailgun webhook signing key",
			assignRe(`mailgun[\w\-]{0,20}`, `[a-h0-9]{32}-[a-h0-9]{8}-[a-h0-9]{8}`), kws("mailgun")),
		newRule("mailchimp-api-key", "secret:mailchimp_key", "Mailchimp API key", tokenRe(`[0-9a-f]{32}-us\d{1,2}`), kws("-us")),
		newRule("sendinblue-api-token", "secret:brevo_key", "Brevo (Sendinblue) API key", tokenRe(`xkeysib-[a-f0-9]{64}-[A-Za-z0-9]{16}`), kws("xkeysib-")),
		newRule("postmark-server-token", "secret:postmark_token", "Postmark server token",
			assignRe(`postmark[\w\-]{0,20}`, uuidRe), kws("postmark")),

		// Package registries and developer platforms.
		newRule("npm-access-token", "secret:npm_token", "npm access token", tokenRe(`npm_[A-Za-z0-9]{36}`), kws("npm_")),
		newRule("npmrc-auth-token", "secret:npm_token", "Registry auth token in .npmrc",
			`(?i:_authToken)\s*=\s*(?P<secret>[A-Za-z0-9_\-+/=.]{20,200})`, kws("_authtoken"), withEntropy(3.5)),
		newRule("pypi-upload-token", "secret:pypi_token", "PyPI upload token", tokenRe(`pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_\-]{50,300}`), kws("pypi-ageichlwas5vcmc")),
		newRule("rubygems-api-token", "secret:rubygems_token", "RubyGems API key", tokenRe(`rubygems_[a-f0-9]{48}`), kws("rubygems_")),
		newRule("nuget-api-key", "secret:nuget_key", "NuGet API key", tokenRe(`oy2[a-z0-9]{43}`), kws("oy2")),
		newRule("clojars-api-token", "secret:clojars_token", "Clojars deploy token", tokenRe(`CLOJARS_[a-z0-9]{60}`), kws("clojars_")),
		newRule("dockerhub-pat", "secret:dockerhub_token", "Docker Hub personal access token", tokenRe(`dckr_pat_[A-Za-z0-9_\-]{27}`), kws("dckr_pat_")),
		newRule("docker-config-auth", "secret:docker_auth", "Registry credentials in a Docker config.json",
			`"auth"\s*:\s*"(?P<secret>[A-Za-z0-9+/]{12,400}={0,2})"`, kws(`"auth"`), withValidate("basic-auth-b64")),
		newRule("artifactory-api-key", "secret:artifactory_token", "JFrog Artifactory API key", tokenRe(`AKCp[A-Za-z0-9]{69}`), kws("akcp")),
		newRule("artifactory-reference-token", "secret:artifactory_token", "JFrog Artifactory reference token", tokenRe(`cmVmdGtuOjAxOj[A-Za-z0-9]{50,60}`), kws("cmvmdgtuojaxoj")),
		newRule("heroku-api-key", "secret:heroku_key", "Heroku API key",
			assignRe(`heroku[\w\-]{0,20}(?:key|token|secret)`, uuidRe), kws("heroku")),
		newRule("heroku-api-key-v2", "secret:heroku_key", "Heroku API key (HRKU format)", tokenRe(`HRKU-AA[0-9A-Za-z_\-]{58}`), kws("hrku-")),
		newRule("digitalocean-pat", "secret:digitalocean_token", "DigitalOcean personal access token", tokenRe(`dop_v1_[a-f0-9]{64}`), kws("dop_v1_")),
		newRule("digitalocean-access-token", "secret:digitalocean_token", "DigitalOcean OAuth access token", tokenRe(`doo_v1_[a-f0-9]{64}`), kws("doo_v1_")),
		newRule("digitalocean-refresh-token", "secret:digitalocean_token", "DigitalOcean OAuth refresh token", tokenRe(`dor_v1_[a-f0-9]{64}`), kws("dor_v1_")),
		newRule("linear-api-key", "secret:linear_key", "Linear API key", tokenRe(`lin_api_[A-Za-z0-9]{40}`), kws("lin_api_")),
		newRule("postman-api-token", "secret:postman_token", "Postman API key", tokenRe(`PMAK-[a-f0-9]{24}-[a-f0-9]{34}`), kws("pmak-")),
		newRule("pulumi-api-token", "secret:pulumi_token", "Pulumi access token", tokenRe(`pul-[a-f0-9]{40}`), kws("pul-")),
		newRule("doppler-api-token", "secret:doppler_token", "Doppler token", tokenRe(`dp\.(?:pt|st|sa|ct|scim|audit)\.[A-Za-z0-9]{40,44}`), kws("dp.pt.", "dp.st.", "dp.sa.", "dp.ct.")),
		newRule("planetscale-api-token", "secret:planetscale_token", "PlanetScale token or password", tokenRe(`pscale_(?:tkn|pw|oauth)_[A-Za-z0-9=\-_.]{32,64}`), kws("pscale_")),
		newRule("databricks-api-token", "secret:databricks_token", "Databricks access token", tokenRe(`dapi[a-f0-9]{32}(?:-\d)?`), kws("dapi")),
		newRule("flyio-access-token", "secret:flyio_token", "Fly.io access token", tokenRe(`(?:fo1_[A-Za-z0-9_\-]{43}|FlyV1 fm\d+_[A-Za-z0-9+/=,_\-]{100,600})`), kws("fo1_", "flyv1 fm")),
		newRule("netlify-access-token", "secret:netlify_token", "Netlify access token",
			assignRe(`netlify[\w\-]{0,20}`, `[A-Za-z0-9=_\-]{40,46}`), kws("netlify"), withEntropy(3.5)),
		newRule("vercel-access-token", "secret:vercel_token", "Vercel access token",
			assignRe(`vercel[\w\-]{0,20}`, `[A-Za-z0-9]{24}`), kws("vercel"), withEntropy(3.5)),
		newRule("supabase-access-token", "secret:supabase_token", "Supabase access token", tokenRe(`sbp_[a-f0-9]{40}`), kws("sbp_")),
		newRule("cloudflare-api-token", "secret:cloudflare_token", "Cloudflare API token or global key",
			assignRe(`cloudflare[\w\-]{0,20}|cf_api[\w\-]{0,10}`, `[A-Za-z0-9_\-]{40}|[a-f0-9]{37}`), kws("cloudflare", "cf_api"), withEntropy(3.3)),
		newRule("cloudflare-origin-ca-key", "secret:cloudflare_token", "Cloudflare origin CA key", tokenRe(`v1\.0-[a-f0-9]{24}-[a-f0-9]{146}`), kws("v1.0-")),
		newRule("prefect-api-token", "secret:prefect_token", "Prefect API key", tokenRe(`pnu_[A-Za-z0-9]{36}`), kws("pnu_")),
		newRule("readme-api-token", "secret:readme_token", "ReadMe API key", tokenRe(`rdme_[a-z0-9]{70}`), kws("rdme_")),
		newRule("scalingo-api-token", "secret:scalingo_token", "Scalingo API token", tokenRe(`tk-us-[A-Za-z0-9_\-]{48}`), kws("tk-us-")),
		newRule("typeform-api-token", "secret:typeform_token", "Typeform personal token", tokenRe(`tfp_[A-Za-z0-9_\-.=]{59}`), kws("tfp_")),
		newRule("contentful-pat", "secret:contentful_token", "Contentful personal access token", tokenRe(`CFPAT-[A-Za-z0-9_\-]{43}`), kws("cfpat-")),
		newRule("frameio-api-token", "secret:frameio_token", "Frame.io API token", tokenRe(`fio-u-[A-Za-z0-9_=\-]{64}`), kws("fio-u-")),
		newRule("hubspot-private-app-token", "secret:hubspot_token", "HubSpot private app token", tokenRe(`pat-(?:na|eu)1-`+uuidRe), kws("pat-na1-", "pat-eu1-")),
		newRule("asana-pat", "secret:asana_token", "Asana personal access token", tokenRe(`[0-9]/[0-9]{16}:[A-Za-z0-9]{32}`), kws("asana")),
		newRule("snyk-api-token", "secret:snyk_token", "Snyk API token", assignRe(`snyk[\w\-]{0,20}`, uuidRe), kws("snyk")),
		newRule("zendesk-api-token", "secret:zendesk_token", "Zendesk API token", assignRe(`zendesk[\w\-]{0,20}`, `[A-Za-z0-9]{40}`), kws("zendesk"), withEntropy(3.5)),
		newRule("algolia-api-key", "secret:algolia_key", "Algolia admin API key", assignRe(`algolia[\w\-]{0,20}`, `[a-f0-9]{32}`), kws("algolia")),
		newRule("age-secret-key", "secret:age_key", "age encryption secret key", tokenRe(`AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}`), kws("age-secret-key-1"), withConf(VeryLikely)),

		// AI platforms.
		newRule("openai-api-key", "secret:openai_key", "OpenAI API key", tokenRe(`sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,74}T3BlbkFJ[A-Za-z0-9_\-]{20,74}`), kws("t3blbkfj")),
		newRule("openai-project-key", "secret:openai_key", "OpenAI project or service account key", tokenRe(`sk-(?:proj|svcacct|admin)-[A-Za-z0-9_\-]{80,200}`), kws("sk-proj-", "sk-svcacct-", "sk-admin-")),
		newRule("anthropic-api-key", "secret:anthropic_key", "Anthropic API key", tokenRe(`sk-ant-api03-[A-Za-z0-9_\-]{93}AA`), kws("sk-ant-api03-"), withConf(VeryLikely)),
		newRule("anthropic-admin-key", "secret:anthropic_key", "Anthropic admin key", tokenRe(`sk-ant-admin01-[A-Za-z0-9_\-]{93}AA`), kws("sk-ant-admin01-"), withConf(VeryLikely)),
		newRule("huggingface-access-token", "secret:huggingface_token", "Hugging Face access token", tokenRe(`hf_[A-Za-z]{34}`), kws("hf_")),
		newRule("huggingface-org-token", "secret:huggingface_token", "Hugging Face organisation token", tokenRe(`api_org_[A-Za-z]{34}`), kws("api_org_")),
		newRule("replicate-api-token", "secret:replicate_token", "Replicate API token", tokenRe(`r8_[A-Za-z0-9]{37}`), kws("r8_")),
		newRule("groq-api-key", "secret:groq_key", "Groq API key", tokenRe(`gsk_[A-Za-z0-9]{52}`), kws("gsk_")),

		// Observability.
		newRule("datadog-api-key", "secret:datadog_key", "Datadog API key",
			assignRe(`datadog[\w\-]{0,20}(?:api_?)?key|dd_?api_?key`, `[a-f0-9]{32}`), kws("datadog", "dd_api_key", "ddapikey", "dd-api-key", "dd_apikey")),
		newRule("datadog-app-key", "secret:datadog_key", "Datadog application key",
			assignRe(`datadog[\w\-]{0,20}app(?:lication)?_?key|dd_?app(?:lication)?_?key`, `[a-f0-9]{40}`), kws("datadog", "dd_app", "ddapp", "dd-app")),
		newRule("new-relic-user-api-key", "secret:newrelic_key", "New Relic user API key", tokenRe(`NRAK-[A-Z0-9]{27}`), kws("nrak-")),
		newRule("new-relic-insert-key", "secret:newrelic_key", "New Relic insert key", tokenRe(`NRII-[A-Za-z0-9_\-]{32}`), kws("nrii-")),
		newRule("new-relic-browser-api-token", "secret:newrelic_key", "New Relic browser API token", tokenRe(`NRJS-[a-f0-9]{19}`), kws("nrjs-")),
		newRule("new-relic-license-key", "secret:newrelic_key", "New Relic license key", tokenRe(`[a-f0-9]{36}NRAL`), kws("nral")),
		newRule("sentry-dsn", "secret:sentry_dsn", "Sentry DSN key",
			`https://(?P<secret>[0-9a-f]{32})@[a-z0-9.\-]+\.sentry\.io/\d+`, kws("sentry.io"), withConf(Possible)),
		newRule("sentry-org-token", "secret:sentry_token", "Sentry organisation auth token", tokenRe(`sntrys_eyJ[A-Za-z0-9+/=_\-]{80,400}`), kws("sntrys_")),
		newRule("sentry-user-token", "secret:sentry_token", "Sentry user auth token", tokenRe(`sntryu_[a-f0-9]{64}`), kws("sntryu_")),
		newRule("grafana-api-key", "secret:grafana_token", "Grafana API key", tokenRe(`eyJrIjoi[A-Za-z0-9]{70,400}={0,2}`), kws("eyjrijoi")),
		newRule("grafana-cloud-api-token", "secret:grafana_token", "Grafana Cloud token", tokenRe(`glc_[A-Za-z0-9+/]{32,400}={0,2}`), kws("glc_")),
		newRule("grafana-service-account-token", "secret:grafana_token", "Grafana service account token", tokenRe(`glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}`), kws("glsa_")),
		newRule("dynatrace-api-token", "secret:dynatrace_token", "Dynatrace API token", tokenRe(`dt0c01\.[A-Z0-9]{24}\.[A-Z0-9]{64}`), kws("dt0c01.")),
		newRule("honeycomb-api-key", "secret:honeycomb_key", "Honeycomb API key", assignRe(`honeycomb[\w\-]{0,20}`, `[A-Za-z0-9]{22}|hc[a-z]ik_[a-z0-9]{58}`), kws("honeycomb")),

		// Identity, secrets managers, infrastructure.
		newRule("okta-access-token", "secret:okta_token", "Okta API token",
			assignRe(`okta[\w\-]{0,20}(?:token|key|api)`, `00[A-Za-z0-9_\-]{40}`), kws("okta")),
		newRule("vault-service-token", "secret:vault_token", "HashiCorp Vault service token", tokenRe(`hvs\.[A-Za-z0-9_\-]{90,120}`), kws("hvs.")),
		newRule("vault-batch-token", "secret:vault_token", "HashiCorp Vault batch token", tokenRe(`hvb\.[A-Za-z0-9_\-]{138,300}`), kws("hvb.")),
		newRule("vault-legacy-token", "secret:vault_token", "HashiCorp Vault token (legacy s. format)",
			assignRe(`vault[\w\-]{0,20}token|x-vault-token`, `s\.[A-Za-z0-9]{24}`), kws("vault")),
		newRule("hashicorp-tf-api-token", "secret:terraform_token", "Terraform Cloud / Enterprise API token", tokenRe(`[A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_=\-]{60,70}`), kws(".atlasv1.")),
		newRule("kubernetes-client-key-data", "secret:private_key", "Private key in a kubeconfig (client-key-data)",
			`client-key-data:\s*(?P<secret>[A-Za-z0-9+/=]{100,1000}[A-Za-z0-9+/=]{0,1000})`, kws("client-key-data"), withWindow(2048)),
		newRule("jwt", "secret:jwt", "JSON Web Token",
			tokenRe(`ey[A-Za-z0-9_\-]{10,}\.ey[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,}`), kws("eyj"), withValidate("jwt"), withConf(Possible), withContext("bearer", "token", "jwt", "authorization")),
		newRule("facebook-access-token", "secret:facebook_token", "Facebook access token", tokenRe(`EAACEdEose0cBA[A-Za-z0-9]{20,}`), kws("eaacedeose0cba")),
		newRule("facebook-app-secret", "secret:facebook_secret", "Facebook app secret", assignRe(`facebook[\w\-]{0,20}secret|fb_?app_?secret`, `[a-f0-9]{32}`), kws("facebook", "fb_app", "fbapp")),
		newRule("twitter-bearer-token", "secret:twitter_token", "Twitter/X bearer token", tokenRe(`AAAAAAAAAAAAAAAAAAAAA[A-Za-z0-9%]{50,120}`), kws("aaaaaaaaaaaaaaaaaaaaa")),
		newRule("mapbox-api-token", "secret:mapbox_token", "Mapbox secret token", tokenRe(`sk\.eyJ1Ijoi[A-Za-z0-9._\-]{50,300}`), kws("sk.eyj1ijoi")),
		newRule("dropbox-short-lived-token", "secret:dropbox_token", "Dropbox short-lived access token", tokenRe(`sl\.(?:u\.)?[A-Za-z0-9_\-]{130,1000}`), kws("sl."), withWindow(1200)),
		newRule("dropbox-long-lived-token", "secret:dropbox_token", "Dropbox long-lived access token",
			assignRe(`dropbox[\w\-]{0,20}`, `[A-Za-z0-9]{11}AAAAAAAAAA[A-Za-z0-9_=\-]{43}`), kws("dropbox")),

		// Private keys.
		newRule("private-key-rsa", "secret:private_key", "RSA private key (PEM)",
			pemRe(`-----BEGIN RSA PRIVATE KEY-----`, `-----END RSA PRIVATE KEY-----`), kws("-----begin rsa private key"), withWindow(MaxMatchLen), withConf(VeryLikely), withEntropy(4.0)),
		newRule("private-key-ec", "secret:private_key", "EC private key (PEM)",
			pemRe(`-----BEGIN EC PRIVATE KEY-----`, `-----END EC PRIVATE KEY-----`), kws("-----begin ec private key"), withWindow(MaxMatchLen), withConf(VeryLikely), withEntropy(4.0)),
		newRule("private-key-dsa", "secret:private_key", "DSA private key (PEM)",
			pemRe(`-----BEGIN DSA PRIVATE KEY-----`, `-----END DSA PRIVATE KEY-----`), kws("-----begin dsa private key"), withWindow(MaxMatchLen), withConf(VeryLikely), withEntropy(4.0)),
		newRule("private-key-pkcs8", "secret:private_key", "PKCS #8 private key (PEM)",
			pemRe(`-----BEGIN PRIVATE KEY-----`, `-----END PRIVATE KEY-----`), kws("-----begin private key"), withWindow(MaxMatchLen), withConf(VeryLikely), withEntropy(4.0)),
		newRule("private-key-encrypted", "secret:private_key", "Encrypted PKCS #8 private key (PEM)",
			pemRe(`-----BEGIN ENCRYPTED PRIVATE KEY-----`, `-----END ENCRYPTED PRIVATE KEY-----`), kws("-----begin encrypted private key"), withWindow(MaxMatchLen), withConf(Likely), withEntropy(4.0)),
		newRule("private-key-openssh", "secret:private_key", "OpenSSH private key",
			pemRe(`-----BEGIN OPENSSH PRIVATE KEY-----`, `-----END OPENSSH PRIVATE KEY-----`), kws("-----begin openssh private key"), withWindow(MaxMatchLen), withConf(VeryLikely), withEntropy(4.0)),
		newRule("private-key-pgp", "secret:private_key", "PGP private key block",
			pemRe(`-----BEGIN PGP PRIVATE KEY BLOCK-----(?:\r?\n[A-Za-z][A-Za-z-]*: [^\r\n]*)*\r?\n`, `(?:=[A-Za-z0-9+/]{4}\r?\n)?-----END PGP PRIVATE KEY BLOCK-----`), kws("-----begin pgp private key block"), withWindow(MaxMatchLen), withConf(VeryLikely), withEntropy(4.0)),
		newRule("private-key-ssh2", "secret:private_key", "SSH2 (SECSH) private key",
			pemRe(`---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----`, `---- END SSH2 ENCRYPTED PRIVATE KEY ----`), kws("---- begin ssh2 encrypted private key"), withWindow(MaxMatchLen), withEntropy(4.0)),
		newRule("private-key-putty", "secret:private_key", "PuTTY private key file",
			`(?s)(?P<secret>PuTTY-User-Key-File-[23]: .{0,600}?Private-Lines: \d+\r?\n[A-Za-z0-9+/=\r\n]{40,1000})`, kws("putty-user-key-file-"), withWindow(MaxMatchLen), withConf(VeryLikely)),

		// Database and service URLs with passwords.
		newRule("postgres-url-password", "secret:database_url", "Password in a PostgreSQL URL",
			`postgres(?:ql)?://[^:/\s@"']{0,64}:(?P<secret>[^@\s/"']{3,128})@[^\s/"'?]+`, kws("postgres://", "postgresql://"), weak, withContext("database", "db_", "dsn")),
		newRule("mysql-url-password", "secret:database_url", "Password in a MySQL/MariaDB URL",
			`(?:mysql|mariadb)(?:\+[a-z]+)?://[^:/\s@"']{0,64}:(?P<secret>[^@\s/"']{3,128})@[^\s/"'?]+`, kws("mysql://", "mariadb://", "mysql+"), weak, withContext("database", "db_", "dsn")),
		newRule("mongodb-url-password", "secret:database_url", "Password in a MongoDB URL",
			`mongodb(?:\+srv)?://[^:/\s@"']{0,64}:(?P<secret>[^@\s/"']{3,128})@[^\s/"'?]+`, kws("mongodb://", "mongodb+srv://"), weak, withContext("database", "db_", "mongo")),
		newRule("redis-url-password", "secret:database_url", "Password in a Redis URL",
			`rediss?://[^:/\s@"']{0,64}:(?P<secret>[^@\s/"']{3,128})@[^\s/"'?]+`, kws("redis://", "rediss://"), weak),
		newRule("amqp-url-password", "secret:database_url", "Password in an AMQP (RabbitMQ) URL",
			`amqps?://[^:/\s@"']{0,64}:(?P<secret>[^@\s/"']{3,128})@[^\s/"'?]+`, kws("amqp://", "amqps://"), weak),
		newRule("sqlserver-url-password", "secret:database_url", "Password in a SQL Server URL or connection string",
			`(?i:sqlserver://[^;\s]*;\s*password|(?:Server|Data Source)=[^;\n]{1,200};[^\n]{0,200}?(?:Password|Pwd))=(?P<secret>[^;"'\s]{3,128})`, kws("sqlserver://", "password=", "pwd="), weak),
		newRule("jdbc-url-password", "secret:database_url", "Password in a JDBC URL",
			`jdbc:[a-z0-9]+:[^\s"']*?[;?&:](?i:password)=(?P<secret>[^;&\s"']{3,128})`, kws("jdbc:"), weak),
		newRule("service-url-password", "secret:url_password", "Password in an FTP/SMTP/LDAP/SSH URL",
			`(?:s?ftp|smtps?|ldaps?|ssh|imaps?)://[^:/\s@"']{1,64}:(?P<secret>[^@\s/"']{3,128})@[^\s/"'?]+`, kws("ftp://", "sftp://", "smtp://", "smtps://", "ldap://", "ldaps://", "ssh://", "imap://", "imaps://"), weak),

		// HTTP credentials.
		newRule("http-basic-auth", "secret:http_basic_auth", "HTTP Basic credentials in an Authorization header",
			`(?i:authorization["']?\s*[:=]\s*["']?basic)\s+(?P<secret>[A-Za-z0-9+/]{8,400}={0,2})`, kws("authorization"), withValidate("basic-auth-b64")),
		newRule("generic-bearer-token", "secret:bearer_token", "Bearer token in an Authorization header",
			`(?i:bearer)\s+(?P<secret>[A-Za-z0-9_\-.=~+/]{20,500})`, kws("bearer"), withEntropy(3.5), withValidate("generic"), withConf(Possible)),

		// Generic assignments: last resort, lose to specific rules.
		newRule("generic-password", "secret:password", "Password assigned in code or configuration",
			assignRe(`passw(?:or)?d|passwd|pwd|passphrase|密码`, `[^\s'"\x60;,<>(){}\[\]$]{6,80}`),
			kws("password", "passwd", "pwd", "passphrase", "密码"), withEntropy(2.5), withValidate("generic"), weak),
		newRule("generic-api-key", "secret:generic", "Secret, token or API key assigned in code or configuration",
			assignRe(`secret|token|api_?key|apikey|access_?key|auth_?key|client_?secret|private_?key|credentials?|密钥`, `[A-Za-z0-9_\-+/=.~]{16,128}`),
			kws("secret", "token", "api_key", "apikey", "api-key", "access_key", "accesskey", "access-key", "auth_key", "authkey", "private_key", "privatekey", "credential", "密钥"),
			withEntropy(3.5), withValidate("generic"), withConf(Possible)),
	}
	return rs
}

// defaultAllowlist is suppressed for every rule: documented example
// credentials and lock files (full of hashes).
func defaultAllowlist() Allowlist {
	return Allowlist{
		Paths: []string{"**/go.sum", "**/package-lock.json", "**/yarn.lock", "**/pnpm-lock.yaml", "**/Cargo.lock", "**/poetry.lock", "**/Gemfile.lock", "**/composer.lock"},
		Values: []string{
			"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
			// jwt.io's example token.
			"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
		},
	}
}

// defaultPIIRules returns the personal-data detectors (pii.go).
func defaultPIIRules() []Rule {
	p := func(id, typ, desc, detector string, c Confidence, ctx ...string) Rule {
		return Rule{ID: id, Type: typ, Description: desc, Detector: detector, Confidence: c, Context: ctx}
	}
	return []Rule{
		p("pii-payment-card", "pii:payment_card", "Payment card number (Luhn and issuer range checked)", "payment-card", Possible,
			"card", "visa", "mastercard", "amex", "credit", "debit", "cc_num", "ccnum", "pan", "卡号", "信用卡", "银行卡"),
		p("pii-cn-resident-id", "pii:cn_resident_id", "Chinese resident identity card number (GB 11643 checked)", "cn-resident-id", Likely,
			"身份证", "身份证号", "公民身份号码", "id_card", "idcard", "id card", "identity", "id_no", "idno", "sfz"),
		p("pii-cn-mobile", "pii:cn_mobile", "Chinese mobile phone number", "cn-mobile", Possible,
			"手机", "电话", "联系方式", "mobile", "phone", "tel", "cell"),
		p("pii-phone-e164", "pii:phone", "Phone number in E.164 form", "e164-phone", Possible,
			"phone", "tel", "mobile", "cell", "whatsapp", "fax", "电话", "手机"),
		p("pii-email", "pii:email", "E-mail address", "email", Possible,
			"email", "e-mail", "mail", "邮箱", "contact"),
		p("pii-iban", "pii:iban", "International bank account number (ISO 13616 checked)", "iban", Likely,
			"iban", "bank", "account", "konto", "compte", "账户", "银行"),
		p("pii-us-ssn", "pii:us_ssn", "US social security number", "us-ssn", Possible,
			"ssn", "social security", "social_security", "taxpayer"),
		p("pii-cn-passport", "pii:cn_passport", "Chinese passport number", "cn-passport", Unlikely,
			"passport", "护照", "travel document"),
		p("pii-ipv4", "pii:ip_address", "Public IPv4 address", "ipv4", Possible,
			"client_ip", "remote_addr", "x-forwarded-for", "user ip", "ip_address"),
		p("pii-ipv6", "pii:ip_address", "Public IPv6 address", "ipv6", Possible,
			"client_ip", "remote_addr", "x-forwarded-for", "user ip", "ip_address"),
	}
}

// validatorFor returns the named value check, nil if there is none.
func validatorFor(name string) func([]byte) bool {
	switch name {
	case "jwt":
		return validJWT
	case "basic-auth-b64":
		return validBasicAuth
	case "generic":
		return genericSecret
	case "luhn":
		return func(v []byte) bool {
			d := make([]byte, 0, len(v))
			for _, c := range v {
				if isDigit(c) {
					d = append(d, c)
				}
			}
			return len(d) >= 12 && luhn(string(d))
		}
	}
	return nil
}

// validJWT reports whether v is header.payload.signature whose header
// decodes to a JSON object with an "alg".
func validJWT(v []byte) bool {
	h, _, ok := strings.Cut(string(v), ".")
	if !ok {
		return false
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(h, "="))
	if err != nil {
		return false
	}
	var hdr map[string]any
	if json.Unmarshal(raw, &hdr) != nil {
		return false
	}
	_, ok = hdr["alg"]
	return ok
}

// validBasicAuth reports whether v is base64 of "user:password".
func validBasicAuth(v []byte) bool {
	raw, err := base64.StdEncoding.DecodeString(string(v))
	if err != nil {
		return false
	}
	u, p, ok := strings.Cut(string(raw), ":")
	if !ok || u == "" || len(p) < 3 {
		return false
	}
	for _, c := range raw {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}

// genericSecret rejects values of generic rules that look like code or
// words rather than secrets: identifiers and dotted names (letters and
// '_', '-', '.' only, no digit), file paths, URLs, and UUIDs-only values
// are kept out by requiring a digit or a symbol, and not being a path.
func genericSecret(v []byte) bool {
	s := string(v)
	if strings.HasPrefix(s, "/") || strings.HasPrefix(s, "./") || strings.Contains(s, "://") || strings.HasPrefix(s, "process.env") || strings.HasPrefix(s, "os.") {
		return false
	}
	var digit, upper, lower, sym bool
	for _, c := range v {
		switch {
		case isDigit(c):
			digit = true
		case isUpper(c):
			upper = true
		case (c|0x20)-'a' < 26:
			lower = true
		case c == '_' || c == '-' || c == '.':
		default:
			sym = true
		}
	}
	if !digit && !sym {
		return false // an identifier, a word, a dotted name
	}
	switch s {
	case "true", "false", "null", "none", "nil", "undefined":
		return false
	}
	return upper || lower || sym
}
