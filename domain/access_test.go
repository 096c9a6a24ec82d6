package domain

import (
	"errors"
	"testing"
)

// TestActionRoles is the table of role rules.
func TestActionRoles(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		action                 Action
		streamer, brand, admin bool
	}{
		{ActionCreateCampaign, false, true, false},
		{ActionChangeCampaign, false, true, true},
		{ActionJoinCampaign, true, false, false},
		{ActionCreateAPIKey, false, true, true},
	} {
		t.Run(string(tc.action), func(t *testing.T) {
			for role, want := range map[Role]bool{RoleStreamer: tc.streamer, RoleBrand: tc.brand, RoleAdmin: tc.admin, "": false} {
				if got := tc.action.Allows(role); got != want {
					t.Errorf("%q may %s: got %v, want %v", role, tc.action, got, want)
				}
				err := tc.action.Check(role)
				if want && err != nil {
					t.Errorf("Check(%q): %v, want nil", role, err)
				}
				if !want && ErrorCode(err) != EFORBIDDEN {
					t.Errorf("Check(%q): code %q, want %s", role, ErrorCode(err), EFORBIDDEN)
				}
			}
		})
	}
	if got, want := ActionCreateCampaign.Check(RoleStreamer).Error(), "FORBIDDEN: only brands create campaigns"; got != want {
		t.Errorf("message: got %q, want %q", got, want)
	}
	if got, want := ActionChangeCampaign.Check(RoleStreamer).Error(), "FORBIDDEN: only brands and admins change campaigns"; got != want {
		t.Errorf("message: got %q, want %q", got, want)
	}
}

func TestActsFor(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name           string
		userID, target string
		role           Role
		want           bool
	}{
		{"Themself", "u1", "u1", RoleStreamer, true},
		{"AnotherUser", "u1", "u2", RoleBrand, false},
		{"Admin", "a", "u2", RoleAdmin, true},
		{"Anonymous", "", "", "", false},
		{"AnonymousWithRole", "", "u2", RoleAdmin, false},
	} {
		if got := ActsFor(tc.userID, tc.role, tc.target); got != tc.want {
			t.Errorf("%s: ActsFor(%q, %q, %q) = %v, want %v", tc.name, tc.userID, tc.role, tc.target, got, tc.want)
		}
	}
}

func TestCanManageCampaign(t *testing.T) {
	t.Parallel()
	c := Campaign{BrandID: "b1"}
	for _, tc := range []struct {
		name   string
		userID string
		role   Role
		want   bool
	}{
		{"ItsBrand", "b1", RoleBrand, true},
		{"AnotherBrand", "b2", RoleBrand, false},
		{"AStreamerWithTheBrandsID", "b1", RoleStreamer, false},
		{"Admin", "a", RoleAdmin, true},
		{"Anonymous", "", "", false},
	} {
		if got := CanManageCampaign(tc.userID, tc.role, c); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestCanSeeCampaign(t *testing.T) {
	t.Parallel()
	errStore := errors.New("store down")
	for _, tc := range []struct {
		name    string
		userID  string
		role    Role
		status  CampaignStatus
		joined  bool
		joinErr error
		want    bool
		asked   bool // whether the participation was looked up
	}{
		{"AdminDraft", "a", RoleAdmin, CampaignDraft, false, nil, true, false},
		{"ItsBrandDraft", "b1", RoleBrand, CampaignDraft, false, nil, true, false},
		{"AnotherBrandActive", "b2", RoleBrand, CampaignActive, false, nil, false, false},
		{"StreamerActive", "s", RoleStreamer, CampaignActive, false, nil, true, false},
		{"StreamerPausedJoined", "s", RoleStreamer, CampaignPaused, true, nil, true, true},
		{"StreamerPausedNotJoined", "s", RoleStreamer, CampaignPaused, false, nil, false, true},
		{"StreamerDraftNotJoined", "s", RoleStreamer, CampaignDraft, false, nil, false, true},
		{"StreamerLookupFails", "s", RoleStreamer, CampaignPaused, false, errStore, false, true},
		{"AnonymousActive", "", "", CampaignActive, false, nil, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			asked := false
			got, err := CanSeeCampaign(tc.userID, tc.role, Campaign{BrandID: "b1", Status: tc.status}, func() (bool, error) {
				asked = true
				return tc.joined, tc.joinErr
			})
			if got != tc.want {
				t.Errorf("may see: got %v, want %v", got, tc.want)
			}
			if !errors.Is(err, tc.joinErr) {
				t.Errorf("err: got %v, want %v", err, tc.joinErr)
			}
			if asked != tc.asked {
				t.Errorf("participation looked up: got %v, want %v", asked, tc.asked)
			}
		})
	}
}

func TestCanSeeParticipation(t *testing.T) {
	t.Parallel()
	p := Participation{StreamerID: "s1", CampaignID: "c1"}
	for _, tc := range []struct {
		name   string
		userID string
		role   Role
		brand  string // brand of the participation's campaign; "" when gone
		want   bool
		asked  bool
	}{
		{"ItsStreamer", "s1", RoleStreamer, "b1", true, false},
		{"AnotherStreamer", "s2", RoleStreamer, "b1", false, false},
		{"Admin", "a", RoleAdmin, "b1", true, false},
		{"TheCampaignsBrand", "b1", RoleBrand, "b1", true, true},
		{"AnotherBrand", "b2", RoleBrand, "b1", false, true},
		{"BrandOfAGoneCampaign", "b1", RoleBrand, "", false, true},
		{"Anonymous", "", "", "", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			asked := false
			got, err := CanSeeParticipation(tc.userID, tc.role, p, func() (string, error) {
				asked = true
				return tc.brand, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("may see: got %v, want %v", got, tc.want)
			}
			if asked != tc.asked {
				t.Errorf("campaign looked up: got %v, want %v", asked, tc.asked)
			}
		})
	}
}

func TestCanSeePrivateFields(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		userID string
		role   Role
		u      User
		want   bool
	}{
		{"Themself", "u1", RoleStreamer, User{ID: "u1"}, true},
		{"JustSignedIn", "", "", User{ID: "u1", SignedIn: true}, true},
		{"Admin", "a", RoleAdmin, User{ID: "u1"}, true},
		{"AnotherUser", "u2", RoleBrand, User{ID: "u1"}, false},
		{"Anonymous", "", "", User{ID: "u1"}, false},
	} {
		if got := CanSeePrivateFields(tc.userID, tc.role, tc.u); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}
