package repository

import (
	"slices"
	"sync"
	"sync/atomic"

	"tally/domain"
)

// userCacheSize bounds the users kept: the hot ones (every authenticated
// request reads its caller). Past it, an arbitrary entry makes room.
const userCacheSize = 10_000

// userCache keeps users read by id on the embedded store, where this
// process is the only writer (DATA_DIR is locked) and a read decodes the
// document through two BSON layers: every authenticated request reads its
// caller, so `me` would pay that each time. Every write of a user through
// Users drops the entry; a read stores what it found only when no user was
// written while it read (gen), so a slow read never puts back a document
// older than a write. MongoDB has other writers (other servers): there is
// no cache there.
type userCache struct {
	gen atomic.Uint64 // raised by every user write, before and after it

	mu    sync.Mutex
	users map[string]domain.User
}

func newUserCache() *userCache { return &userCache{users: map[string]domain.User{}} }

func (c *userCache) get(id string) (domain.User, bool) {
	if c == nil {
		return domain.User{}, false
	}
	c.mu.Lock()
	u, ok := c.users[id]
	c.mu.Unlock()
	return cloneUser(u), ok
}

// put keeps u if no write happened since gen was read.
func (c *userCache) put(gen uint64, u domain.User) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen.Load() != gen {
		return
	}
	if len(c.users) >= userCacheSize {
		for k := range c.users {
			delete(c.users, k)
			break
		}
	}
	c.users[u.ID] = cloneUser(u)
}

// writing is called before a user write; done after it, with the id written
// ("" when it is not known: everything is dropped).
func (c *userCache) writing() {
	if c != nil {
		c.gen.Add(1)
	}
}

func (c *userCache) done(id string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.gen.Add(1)
	if id == "" {
		clear(c.users)
	} else {
		delete(c.users, id)
	}
	c.mu.Unlock()
}

// cloneUser copies u's slices, so that no caller can change a cached user.
func cloneUser(u domain.User) domain.User {
	if ps := u.CampaignRotationSettings.BlackoutPeriods; ps != nil {
		ps = slices.Clone(ps)
		for i := range ps {
			ps[i].DaysOfWeek = slices.Clone(ps[i].DaysOfWeek)
		}
		u.CampaignRotationSettings.BlackoutPeriods = ps
	}
	return u
}
