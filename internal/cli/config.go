package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// configFileName is the file, inside the configuration directory, that
// holds the aliases.
const configFileName = "config.json"

// credentialsFileName is what `coffer serve` writes into its data directory
// for the local administrator.
const credentialsFileName = "credentials.json"

// implicitAlias is the alias that falls back to the local data directory's
// credentials.json when it is not configured.
const implicitAlias = "local"

// defaultRegion is used when a profile names none.
const defaultRegion = "us-east-1"

// Config is the CLI's saved state: named server profiles.
type Config struct {
	Version int              `json:"version"`
	Aliases map[string]Alias `json:"aliases"`
}

// Alias is one server profile.
type Alias struct {
	URL       string `json:"url"`
	AccessKey string `json:"access_key"`
	SecretKey string `json:"secret_key"`
	// CAFile is an absolute path to a PEM file with the CA that signed the
	// server's certificate; it is trusted in addition to the system roots.
	CAFile string `json:"ca_file,omitempty"`
	Region string `json:"region,omitempty"`
}

// serverCredentials is the credentials.json that `coffer serve` writes.
type serverCredentials struct {
	Endpoint  string `json:"endpoint"`
	AccessKey string `json:"access_key"`
	SecretKey string `json:"secret_key"`
	CAFile    string `json:"ca_file"`
	Region    string `json:"region"`
}

// configDir returns the configuration directory: $COFFER_CONFIG_DIR, else
// $XDG_CONFIG_HOME/coffer, else $HOME/.config/coffer.
func configDir(getenv func(string) string) (string, error) {
	if d := getenv("COFFER_CONFIG_DIR"); d != "" {
		return d, nil
	}
	if d := getenv("XDG_CONFIG_HOME"); d != "" {
		return filepath.Join(d, "coffer"), nil
	}
	home := getenv("HOME")
	if home == "" {
		var err error
		if home, err = os.UserHomeDir(); err != nil {
			return "", fmt.Errorf("cannot find the configuration directory: set COFFER_CONFIG_DIR: %w", err)
		}
	}
	return filepath.Join(home, ".config", "coffer"), nil
}

// loadConfig reads the configuration at path. A missing file is an empty
// configuration. warn, if non-nil, receives a note when the file is
// readable by other users.
func loadConfig(path string, warn func(string)) (*Config, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &Config{Version: 1, Aliases: map[string]Alias{}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read configuration: %w", err)
	}
	if st, err := os.Stat(path); err == nil && st.Mode().Perm()&0o077 != 0 && warn != nil {
		warn(fmt.Sprintf("%s is readable by other users; run: chmod 600 %s", path, path))
	}
	var c Config
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("configuration file %s is not valid JSON: %w", path, err)
	}
	if c.Aliases == nil {
		c.Aliases = map[string]Alias{}
	}
	if c.Version == 0 {
		c.Version = 1
	}
	return &c, nil
}

// saveConfig writes c to path atomically: a temporary file in the same
// directory, written with mode 0600 and synced, renamed over path. A crash
// leaves either the old or the new file, never a torn one.
func saveConfig(path string, c *Config) error {
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return fmt.Errorf("encode configuration: %w", err)
	}
	data = append(data, '\n')
	return writeFileAtomic(path, data, 0o600)
}

// writeFileAtomic replaces path with data, creating its directory (0700)
// when needed.
func writeFileAtomic(path string, data []byte, perm fs.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	syncDir(dir)
	return nil
}

// syncDir makes a rename in dir durable where the platform allows it.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

var aliasNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]*$`)

// validAliasName reports whether name can be an alias (it becomes the
// first segment of remote paths).
func validAliasName(name string) error {
	if len(name) > 64 || !aliasNameRE.MatchString(name) {
		return fmt.Errorf("invalid alias name %q: use letters, digits, '-' and '_', starting with a letter or digit", name)
	}
	return nil
}

// validEndpoint checks an alias URL: http or https, a host, no path,
// query or credentials. It returns the URL normalised (no trailing slash).
func validEndpoint(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("invalid URL %q: %w", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("invalid URL %q: it must start with https:// (or http://)", raw)
	}
	if u.Host == "" {
		return "", fmt.Errorf("invalid URL %q: no host", raw)
	}
	if u.User != nil {
		return "", fmt.Errorf("invalid URL %q: put credentials in ACCESS_KEY and SECRET_KEY, not the URL", raw)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("invalid URL %q: it must not have a path or query", raw)
	}
	return u.Scheme + "://" + u.Host, nil
}

// readServerCredentials reads DIR/credentials.json as written by `coffer
// serve`, resolving a relative CA path against DIR.
func readServerCredentials(dir string) (Alias, error) {
	path := filepath.Join(dir, credentialsFileName)
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return Alias{}, fmt.Errorf("%s not found: is %s a Coffer data directory (start the server once with `coffer serve`)?", path, dir)
		}
		return Alias{}, fmt.Errorf("read %s: %w", path, err)
	}
	var sc serverCredentials
	if err := json.Unmarshal(data, &sc); err != nil {
		return Alias{}, fmt.Errorf("%s is not valid JSON: %w", path, err)
	}
	if sc.Endpoint == "" || sc.AccessKey == "" || sc.SecretKey == "" {
		return Alias{}, fmt.Errorf("%s lacks endpoint, access_key or secret_key", path)
	}
	endpoint, err := validEndpoint(sc.Endpoint)
	if err != nil {
		return Alias{}, fmt.Errorf("%s: %w", path, err)
	}
	ca := sc.CAFile
	if ca != "" && !filepath.IsAbs(ca) {
		if ca, err = filepath.Abs(filepath.Join(dir, ca)); err != nil {
			return Alias{}, err
		}
	}
	return Alias{URL: endpoint, AccessKey: sc.AccessKey, SecretKey: sc.SecretKey, CAFile: ca, Region: sc.Region}, nil
}

// configPath returns the path of config.json.
func (a *app) configPath() (string, error) {
	dir, err := configDir(a.getenv)
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, configFileName), nil
}

// loadConfig loads the user's configuration.
func (a *app) loadConfig() (*Config, string, error) {
	path, err := a.configPath()
	if err != nil {
		return nil, "", err
	}
	c, err := loadConfig(path, func(msg string) { fmt.Fprintf(a.stderr, "coffer: warning: %s\n", msg) })
	return c, path, err
}

// localDataDir is where the implicit "local" alias looks for the server's
// credentials: $COFFER_DATA_DIR or ./coffer-data.
func (a *app) localDataDir() string {
	if d := a.getenv("COFFER_DATA_DIR"); d != "" {
		return d
	}
	return "coffer-data"
}

// errUnknownAlias is wrapped by lookups of an alias that is not configured.
var errUnknownAlias = errors.New("unknown alias")

// lookupAlias returns the named profile. "local", when not configured,
// falls back to the credentials.json of the local data directory.
func (a *app) lookupAlias(name string) (Alias, error) {
	c, _, err := a.loadConfig()
	if err != nil {
		return Alias{}, err
	}
	if al, ok := c.Aliases[name]; ok {
		return al, nil
	}
	if name == implicitAlias {
		dir := a.localDataDir()
		if _, err := os.Stat(filepath.Join(dir, credentialsFileName)); err == nil {
			return readServerCredentials(dir)
		}
	}
	var names []string
	for n := range c.Aliases {
		names = append(names, n)
	}
	hint := "add one with `coffer alias set` or `coffer alias import`"
	if len(names) > 0 {
		hint = "known aliases: " + strings.Join(sortedStrings(names), ", ") + "; " + hint
	}
	return Alias{}, fmt.Errorf("%w %q (%s)", errUnknownAlias, name, hint)
}
