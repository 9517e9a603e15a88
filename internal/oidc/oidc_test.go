package oidc

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	base := func() Config {
		return Config{Issuer: "https://gitlab.example.com", ClientID: "id", PublicURL: "https://faultline.example.com/"}
	}
	cases := []struct {
		name   string
		change func(*Config)
		err    string // "" for valid
	}{
		{"off", func(c *Config) { *c = Config{PublicURL: "http://x"} }, ""},
		{"off with a client id", func(c *Config) { *c = Config{ClientID: "id"} }, "need --oidc-issuer"},
		{"off with a default org", func(c *Config) { *c = Config{DefaultOrg: "acme"} }, "need --oidc-issuer"},
		{"defaults", func(c *Config) {}, ""},
		{"issuer not a URL", func(c *Config) { c.Issuer = "gitlab.example.com" }, "--oidc-issuer"},
		{"issuer with a query", func(c *Config) { c.Issuer = "https://idp.example/?x=1" }, "--oidc-issuer"},
		{"issuer ftp", func(c *Config) { c.Issuer = "ftp://idp.example" }, "--oidc-issuer"},
		{"no client id", func(c *Config) { c.ClientID = "" }, "--oidc-client-id"},
		{"bad role", func(c *Config) { c.DefaultRole = "boss" }, "--oidc-default-role"},
		{"owner role", func(c *Config) { c.DefaultRole = "owner" }, ""},
		{"bad domain", func(c *Config) { c.AllowedDomains = []string{"a@b.example"} }, "--oidc-allowed-domains"},
		{"domain without a dot", func(c *Config) { c.AllowedDomains = []string{"corp"} }, "--oidc-allowed-domains"},
		{"long name", func(c *Config) { c.Name = strings.Repeat("x", 101) }, "--oidc-name"},
		{"no public URL", func(c *Config) { c.PublicURL = "" }, "public URL"},
	}
	for _, c := range cases {
		cfg := base()
		c.change(&cfg)
		err := cfg.Validate()
		if c.err == "" && err != nil || c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
			t.Errorf("%s: %v, want %q", c.name, err, c.err)
		}
	}
	cfg := base()
	cfg.AllowedDomains = []string{" Corp.Example ", "", "@other.example"}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.Name != "single sign-on" || cfg.DefaultRole != "member" || cfg.FlowTTL != 10*time.Minute ||
		strings.Join(cfg.Scopes, " ") != "openid email profile" ||
		cfg.RedirectURL() != "https://faultline.example.com/auth/oidc/callback/" ||
		strings.Join(cfg.AllowedDomains, ",") != "corp.example,other.example" {
		t.Fatalf("defaults: %+v", cfg)
	}
	for email, want := range map[string]bool{
		"a@corp.example": true, "A@CORP.EXAMPLE": true, "a@other.example": true, "a@sub.corp.example": false,
		"a@corp.example.evil": false, "corp.example": false, "": false, "a@evil@corp.example": false,
	} {
		if got := cfg.DomainAllowed(email); got != want {
			t.Errorf("DomainAllowed(%q) = %v, want %v", email, got, want)
		}
	}
	if any := base(); any.Validate() != nil || !any.DomainAllowed("x@anything.example") {
		t.Error("no allowed domains must allow any")
	}
}

func TestClaims(t *testing.T) {
	cases := []struct {
		json     string
		email    string
		verified bool
		name     string
	}{
		{`{"email":"a@x.example","email_verified":true,"name":"Ada L"}`, "a@x.example", true, "Ada L"},
		{`{"email":"a@x.example","email_verified":"true","given_name":"Ada","family_name":"L"}`, "a@x.example", true, "Ada L"},
		{`{"email":"a@x.example","email_verified":false,"preferred_username":"ada"}`, "a@x.example", false, "ada"},
		{`{"email":"a@x.example"}`, "a@x.example", false, ""},
		{`{"email":"a@x.example","email_verified":"false"}`, "a@x.example", false, ""},
		{`{"email_verified":true}`, "", false, ""},
	}
	for _, c := range cases {
		var cl claims
		if err := json.Unmarshal([]byte(c.json), &cl); err != nil {
			t.Fatal(err)
		}
		var id Identity
		cl.fill(&id)
		if id.Email != c.email || id.EmailVerified != c.verified || id.Name != c.name {
			t.Errorf("%s: %+v", c.json, id)
		}
	}
}

func TestStartLimit(t *testing.T) {
	var st starts
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 3; i++ {
		if !st.allow("1.2.3.4", 3, time.Minute, now) {
			t.Fatalf("start %d refused", i)
		}
	}
	if st.allow("1.2.3.4", 3, time.Minute, now.Add(time.Second)) {
		t.Fatal("a fourth start in the window was allowed")
	}
	if !st.allow("5.6.7.8", 3, time.Minute, now.Add(time.Second)) {
		t.Fatal("another address was refused")
	}
	if !st.allow("1.2.3.4", 3, time.Minute, now.Add(time.Minute)) {
		t.Fatal("the next window was refused")
	}
	for i := 0; len(st.counts) < maxClients; i++ {
		st.allow("a"+strings.Repeat("x", i%7)+string(rune('a'+i%26))+time.Duration(i).String(), 3, time.Minute, now.Add(time.Minute))
	}
	if st.allow("new", 3, time.Minute, now.Add(time.Minute)) || !st.allow("1.2.3.4", 3, time.Minute, now.Add(time.Minute)) {
		t.Fatal("a full table must refuse new addresses only")
	}
}
