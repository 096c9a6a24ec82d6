package server

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"tally/repository"
	"tally/server/config"
)

// checkStoreFile reports whether the embedded store's file exists before it
// is opened, and warns when it is missing next to existing data (a
// jwt_secret from an earlier start): the store then starts empty, which
// means its data was moved or deleted, or DATA_DIR points somewhere else.
// It reports true for MongoDB.
func checkStoreFile(cfg config.Config, log *slog.Logger) bool {
	if cfg.MongoURI != "" {
		return true
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, repository.DataFile)); err == nil {
		return true
	}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, "jwt_secret")); err == nil {
		log.Warn("the store file is missing next to existing data: starting with an EMPTY store. "+
			"If this server has run on this DATA_DIR before, its data was moved or deleted; stop it and restore "+repository.DataFile+" (or fix DATA_DIR).",
			"data_dir", cfg.DataDir, "missing", repository.DataFile)
	}
	return false
}

// jwtSecret returns JWT_SECRET, or in embedded mode a secret kept in
// DATA_DIR/jwt_secret, created on first start, so tokens survive restarts.
// A secret file that is unreadable or too short, or missing next to an
// existing store, is replaced, with a warning: every session token issued
// before stops working. The secret itself is never logged.
func jwtSecret(cfg config.Config, hadStore bool, log *slog.Logger) ([]byte, error) {
	if cfg.JWTSecret != "" {
		return []byte(cfg.JWTSecret), nil
	}
	if err := cfg.RequireSecret(); err != nil {
		return nil, err
	}
	path := filepath.Join(cfg.DataDir, "jwt_secret")
	b, err := os.ReadFile(path)
	switch {
	case err == nil && len(strings.TrimSpace(string(b))) >= 32:
		return []byte(strings.TrimSpace(string(b))), nil
	case err == nil:
		log.Warn("DATA_DIR/jwt_secret is damaged (shorter than 32 bytes) and is replaced by a new secret: "+
			"every session token issued before is now invalid and users must log in again",
			"path", path)
	case !errors.Is(err, fs.ErrNotExist):
		log.Warn("DATA_DIR/jwt_secret cannot be read and is replaced by a new secret: "+
			"every session token issued before is now invalid and users must log in again",
			"path", path, "err", err.Error())
	case hadStore:
		log.Warn("DATA_DIR/jwt_secret is missing next to an existing store and a new secret is created: "+
			"every session token issued before is now invalid and users must log in again",
			"path", path)
	}
	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	secret := hex.EncodeToString(raw)
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	return []byte(secret), nil
}
