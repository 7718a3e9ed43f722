package scan

import (
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"
)

// withLuhn appends the Luhn check digit to a digit string.
func withLuhn(p string) string {
	for c := '0'; c <= '9'; c++ {
		if luhn(p + string(c)) {
			return p + string(c)
		}
	}
	panic("unreachable")
}

// withGB11643 appends the GB 11643 check character to 17 digits.
func withGB11643(body string) string {
	w := []int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}
	s := 0
	for i, c := range body {
		s += int(c-'0') * w[i]
	}
	return body + string("10X98765432"[s%11])
}

// makeIBAN computes the ISO 13616 check digits for a country and BBAN.
func makeIBAN(cc, bban string) string {
	var num strings.Builder
	for _, c := range bban + cc + "00" {
		if c >= 'A' && c <= 'Z' {
			fmt.Fprint(&num, int(c-'A'+10))
		} else {
			num.WriteRune(c)
		}
	}
	n, _ := new(big.Int).SetString(num.String(), 10)
	check := 98 - new(big.Int).Mod(n, big.NewInt(97)).Int64()
	return fmt.Sprintf("%s%02d%s", cc, check, bban)
}

// offByOne changes the digit at i (from the end if negative).
func offByOne(s string, i int) string {
	if i < 0 {
		i += len(s)
	}
	b := []byte(s)
	if b[i] == 'X' {
		b[i] = '0'
	} else {
		b[i] = '0' + (b[i]-'0'+1)%10
	}
	return string(b)
}

func TestPIIValidators(t *testing.T) {
	visa := withLuhn("453201511283036")
	id := withGB11643("11010519850612123")
	idX := ""
	for _, body := range []string{"44030419900101001", "44030419900101002", "44030419900101003", "44030419900101004", "44030419900101005", "44030419900101006", "44030419900101007", "44030419900101008", "44030419900101009", "44030419900101010", "44030419900101011"} {
		if v := withGB11643(body); v[17] == 'X' {
			idX = v
		}
	}
	if idX == "" {
		t.Fatal("no id with check X")
	}
	now := time.Now()
	future := withGB11643("110105" + now.AddDate(1, 0, 0).Format("20060102") + "123")
	de := makeIBAN("DE", "370400440532013000")
	gb := makeIBAN("GB", "NWBK60161331926819")

	tests := []struct {
		name string
		text string
		rule string // "" means: no personal-data finding at all
		want string // the value, when rule is set; default: the text's token
	}{
		// Payment cards.
		{"visa", "card: " + visa, "pii-payment-card", visa},
		{"visa spaced", "card " + visa[:4] + " " + visa[4:8] + " " + visa[8:12] + " " + visa[12:], "pii-payment-card", visa[:4] + " " + visa[4:8] + " " + visa[8:12] + " " + visa[12:]},
		{"visa dashed", "card " + visa[:4] + "-" + visa[4:8] + "-" + visa[8:12] + "-" + visa[12:], "pii-payment-card", ""},
		{"mastercard 2-series", "mc " + withLuhn("222384719283746"), "pii-payment-card", ""},
		{"amex", "amex " + withLuhn("34987654321098"), "pii-payment-card", ""},
		{"unionpay 19", "银行卡 " + withLuhn("621700123498765432"), "pii-payment-card", ""},
		{"luhn one digit off", "card " + offByOne(visa, -1), "", ""},
		{"luhn middle digit off", "card " + offByOne(visa, 7), "", ""},
		{"no issuer range", "card " + withLuhn("900000000000000"), "", ""},
		{"amex wrong length", "card " + withLuhn("371449635398431"), "", ""},
		{"published test card", "card 4111111111111111", "", ""},
		{"inside a longer number", "id 9" + visa + "1", "", ""},
		{"inside hex", "hash a" + visa + "f", "", ""},
		{"order id with dots", "v" + visa[:4] + "." + visa[4:8] + "." + visa[8:12] + "." + visa[12:], "", ""},

		// Chinese resident id.
		{"resident id", "身份证号: " + id, "pii-cn-resident-id", id},
		{"resident id X", "id " + idX, "pii-cn-resident-id", idX},
		{"resident id lowercase x", "id " + strings.ToLower(idX), "pii-cn-resident-id", strings.ToLower(idX)},
		{"check digit off", "身份证 " + offByOne(id, -1), "", ""},
		{"birth date invalid", "身份证 " + withGB11643("11010519851332123"), "", ""},
		{"birth in the future", "身份证 " + future, "", ""},
		{"region code 99", "身份证 " + withGB11643("99010519850612123"), "", ""},
		{"region code 10", "身份证 " + withGB11643("10010519850612123"), "", ""},
		{"17 digits", "身份证 " + id[:17], "", ""},

		// Chinese mobile.
		{"cn mobile", "手机 13812345678", "pii-cn-mobile", "13812345678"},
		{"cn mobile +86", "tel +8613912345678", "pii-cn-mobile", "+8613912345678"},
		{"cn mobile +86 spaced", "tel +86 139 1234 5678", "pii-cn-mobile", "+86 139 1234 5678"},
		{"cn mobile dashed", "手机 186-1234-5678", "pii-cn-mobile", "186-1234-5678"},
		{"cn mobile 12x", "手机 12812345678", "", ""},
		{"cn mobile 140", "手机 14012345678", "", ""},
		{"cn mobile 10 digits", "手机 1381234567", "", ""},
		{"cn mobile 12 digits", "手机 138123456789", "", ""},

		// E.164.
		{"e164 us", "phone: +14155552671", "pii-phone-e164", "+14155552671"},
		{"e164 uk spaced", "phone +44 20 7946 0958", "pii-phone-e164", "+44 20 7946 0958"},
		{"e164 too short", "phone +4420794", "", ""},
		{"e164 too long", "phone +4420794609581234", "", ""},
		{"e164 unassigned code", "phone +2812345678", "", ""},
		{"arithmetic", "x = y +12345678", "", ""},

		// E-mail.
		{"email", "contact alice.liu@acme-corp.io now", "pii-email", "alice.liu@acme-corp.io"},
		{"email plus", "<bob+billing@mail.acme.co.uk>", "pii-email", "bob+billing@mail.acme.co.uk"},
		{"email example domain", "mail user@example.com", "", ""},
		{"retina image", "src=icon@2x.png", "", ""},
		{"no tld", "user@localhost", "", ""},
		{"npm scope", "import x from '@acme/widgets'", "", ""},

		// IBAN.
		{"iban de", "IBAN: " + de, "pii-iban", de},
		{"iban gb grouped", "iban " + gb[:4] + " " + gb[4:8] + " " + gb[8:12] + " " + gb[12:16] + " " + gb[16:20] + " " + gb[20:], "pii-iban", ""},
		{"iban one digit off", "IBAN " + offByOne(de, -1), "", ""},
		{"iban check digits off", "IBAN " + offByOne(de, 3), "", ""},
		{"iban wrong length", "IBAN " + de + "1", "", ""},
		{"iban unknown country", "IBAN " + makeIBAN("QQ", "370400440532013000"), "", ""},

		// US SSN.
		{"ssn", "SSN: 536-22-1234", "pii-us-ssn", "536-22-1234"},
		{"ssn plain with context", "ssn=536221234", "pii-us-ssn", "536221234"},
		{"ssn plain without context", "count=536221234", "", ""},
		{"ssn area 000", "SSN 000-22-1234", "", ""},
		{"ssn area 666", "SSN 666-22-1234", "", ""},
		{"ssn area 9xx", "SSN 912-22-1234", "", ""},
		{"ssn group 00", "SSN 536-00-1234", "", ""},
		{"ssn serial 0000", "SSN 536-22-0000", "", ""},
		{"ssn advertised", "SSN 078-05-1120", "", ""},
		{"date not ssn", "on 2024-01-15 at", "", ""},

		// Chinese passport.
		{"passport", "护照号码: E12345678", "pii-cn-passport", "E12345678"},
		{"passport new", "passport EA1234567", "pii-cn-passport", "EA1234567"},
		{"passport G", "passport no G12345678", "pii-cn-passport", "G12345678"},
		{"passport 7 digits", "passport E1234567", "", ""},
		{"passport other letter", "passport X12345678", "", ""},
		{"passport in word", "passport AE12345678", "", ""},

		// IP addresses.
		{"ipv4", "client_ip=8.8.4.4", "pii-ipv4", "8.8.4.4"},
		{"ipv4 private", "addr 10.1.2.3 192.168.0.1 172.16.5.4", "", ""},
		{"ipv4 loopback", "addr 127.0.0.1", "", ""},
		{"ipv4 documentation", "addr 203.0.113.7 198.51.100.1 192.0.2.9", "", ""},
		{"ipv4 cgnat", "addr 100.64.1.1", "", ""},
		{"ipv4 version", "version 4.2.1.9", "", ""},
		{"ipv4 v prefix", "v4.2.1.9", "", ""},
		{"ipv4 five parts", "oid 1.3.6.1.4", "", ""},
		{"ipv4 octet too big", "addr 256.1.1.1", "", ""},
		{"ipv6", "remote_addr=2606:4700:4700::1111", "pii-ipv6", "2606:4700:4700::1111"},
		{"ipv6 loopback", "addr ::1", "", ""},
		{"ipv6 link-local", "addr fe80::1", "", ""},
		{"ipv6 documentation", "addr 2001:db8::1", "", ""},
		{"cpp scope", "std::vector<int> a::b", "", ""},
		{"time", "at 12:30:45", "", ""},
		{"mac", "mac 00:1a:2b:3c:4d:5e", "", ""},
	}
	e := defaultEngine(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := scanString(e, tt.text+"\n", "crm/export.csv")
			var pii []Finding
			for _, f := range fs {
				if strings.HasPrefix(f.Type, "pii:") {
					pii = append(pii, f)
				}
			}
			if tt.rule == "" {
				for _, f := range pii {
					t.Errorf("%q: unexpected %s %s %q", tt.text, f.Rule, f.Confidence, f.Value)
				}
				return
			}
			f := findRule(pii, tt.rule)
			if f == nil {
				t.Fatalf("%q: no %s; got %v", tt.text, tt.rule, rulesOf(fs))
			}
			if tt.want != "" && f.Value != tt.want {
				t.Errorf("value %q, want %q", f.Value, tt.want)
			}
			if len(pii) != 1 {
				t.Errorf("%d personal-data findings, want 1: %v", len(pii), rulesOf(pii))
			}
			checkMasked(t, *f)
		})
	}
}

// TestConfidenceContext shows context words raising and test-data tells
// lowering confidence.
func TestConfidenceContext(t *testing.T) {
	e := defaultEngine(t)
	visa := withLuhn("453201511283036")
	id := withGB11643("11010519850612123")
	tests := []struct {
		name, text, path, rule string
		want                   Confidence
	}{
		{"card alone", "x " + visa, "a.csv", "pii-payment-card", Possible},
		{"card with context", "credit card: " + visa, "a.csv", "pii-payment-card", Likely},
		{"card with chinese context", "信用卡号 " + visa, "a.csv", "pii-payment-card", Likely},
		{"card near test", "test fixture " + visa, "a.csv", "pii-payment-card", Unlikely},
		{"card in test path", "card " + visa, "src/testdata/cards.csv", "pii-payment-card", Possible},
		{"card in test path, no context", "x " + visa, "pkg/foo_test.go", "pii-payment-card", Unlikely},
		{"resident id alone", "x " + id, "a.csv", "pii-cn-resident-id", Likely},
		{"resident id with 身份证", "身份证: " + id, "a.csv", "pii-cn-resident-id", VeryLikely},
		{"resident id with sample", "sample " + id, "a.csv", "pii-cn-resident-id", Possible},
		{"mobile alone", "x 13812345678", "a.csv", "pii-cn-mobile", Possible},
		{"mobile with 手机", "手机: 13812345678", "a.csv", "pii-cn-mobile", Likely},
		{"ssn with context", "ssn: 536-22-1234", "a.csv", "pii-us-ssn", Likely},
		{"passport alone", "x E12345678", "a.csv", "pii-cn-passport", Unlikely},
		{"passport with context", "护照 E12345678", "a.csv", "pii-cn-passport", Possible},
		{"github token", "x ghp_" + newGen(3).s(36, setAlnum), "a.env", "github-pat", Likely},
		{"github token with context", "GITHUB_TOKEN=ghp_" + newGen(3).s(36, setAlnum), "a.env", "github-pat", Likely},
		{"aws key with secret context", "secret AKIA" + newGen(4).s(16, setUpper), "a.env", "aws-access-key-id", VeryLikely},
		{"aws key in example file", "secret AKIA" + newGen(4).s(16, setUpper), "docs/examples/a.env", "aws-access-key-id", Likely},
		{"aws key mock", "mock AKIA" + newGen(4).s(16, setUpper), "a.env", "aws-access-key-id", Possible},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := scanString(e, tt.text+"\n", tt.path)
			f := findRule(fs, tt.rule)
			if f == nil {
				t.Fatalf("no %s in %v", tt.rule, rulesOf(fs))
			}
			if f.Confidence != tt.want {
				t.Errorf("confidence %v, want %v", f.Confidence, tt.want)
			}
		})
	}
}
