package store

import (
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"embedded", Config{Path: "/tmp/x"}, true},
		{"server", Config{URL: "clickhouse://h:9000/db"}, true},
		{"nothing", Config{}, false},
		{"bad database", Config{Path: "/tmp/x", Database: "a;b"}, false},
		{"cluster without server", Config{Path: "/tmp/x", Cluster: "c"}, false},
		{"cluster", Config{URL: "clickhouse://h:9000/db", Cluster: "prod-1"}, true},
		{"bad cluster", Config{URL: "clickhouse://h:9000/db", Cluster: "a`b"}, false},
		{"TLS without server", Config{Path: "/tmp/x", TLS: TLSConfig{Enable: true}}, false},
		{"certificate without key", Config{URL: "clickhouse://h:9000/db", TLS: TLSConfig{CertFile: "c.pem"}}, false},
		{"url and flag agree", Config{URL: "clickhouse://h:9000/db", Database: "db"}, true},
		{"url and flag conflict", Config{URL: "clickhouse://h:9000/db", Database: "other"}, false},
		{"bad database in url", Config{URL: "clickhouse://h:9000/a;b"}, false},
	} {
		err := tc.cfg.Validate()
		if (err == nil) != tc.ok {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

// TestNativeOptions: the URL's own options win over defaults, and the
// cluster mode inserts synchronously.
func TestDatabaseFromURL(t *testing.T) {
	for _, tc := range []struct{ url, flag, want string }{
		{"clickhouse://h:9000/mydb", "", "mydb"},
		{"clickhouse://u:p@h1:9000,h2:9000/mydb?dial_timeout=2s", "", "mydb"},
		{"clickhouse://h:9000", "", "faultline"},
		{"clickhouse://h:9000/", "", "faultline"},
		{"clickhouse://h:9000", "given", "given"},
		{"", "", "faultline"},
	} {
		c := Config{URL: tc.url, Database: tc.flag, Path: "/tmp/x"}
		if err := c.Validate(); err != nil || c.Database != tc.want {
			t.Errorf("%q + %q: database %q, %v; want %q", tc.url, tc.flag, c.Database, err, tc.want)
		}
		if tc.url == "" {
			continue
		}
		if o, err := nativeOptions(c); err != nil || o.Auth.Database != tc.want {
			t.Errorf("%q: handshake database %q, %v", tc.url, o.Auth.Database, err)
		}
	}
}

func TestNativeOptions(t *testing.T) {
	cfg := Config{URL: "clickhouse://u:p@h1:9000,h2:9000/db?dial_timeout=2s&max_open_conns=3", Cluster: "c"}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	o, err := nativeOptions(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if o.DialTimeout != 2*time.Second || o.MaxOpenConns != 3 || o.ReadTimeout != time.Minute || len(o.Addr) != 2 {
		t.Errorf("options %+v", o)
	}
	if o.Settings["insert_distributed_sync"] != 1 || o.Settings["allow_experimental_low_cardinality_type"] != 1 {
		t.Errorf("settings %v", o.Settings)
	}
	if o.TLS != nil {
		t.Error("TLS on without being asked")
	}
	cfg = Config{URL: "clickhouse://h:9440/db", TLS: TLSConfig{InsecureSkipVerify: true}}
	cfg.Validate() //nolint:errcheck
	if o, err = nativeOptions(cfg); err != nil || o.TLS == nil || !o.TLS.InsecureSkipVerify {
		t.Errorf("TLS options %+v, %v", o.TLS, err)
	}
	cfg = Config{URL: "clickhouse://h:9440/db", TLS: TLSConfig{CAFile: "/nonexistent.pem"}}
	cfg.Validate() //nolint:errcheck
	if _, err := nativeOptions(cfg); err == nil {
		t.Error("a missing CA file was accepted")
	}
}
