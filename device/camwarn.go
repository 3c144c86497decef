package device

import "sync"

// snapshotBasicWarning is shown in a camera's status while its snapshot_url
// takes the password as Basic authentication over plain http://.
const snapshotBasicWarning = "the camera asked for Basic authentication on snapshot_url over plain http://: its password crosses the network in clear; set the camera to Digest authentication, or use https://"

// snapshotAuth remembers which cameras' snapshot fetches sent the password
// in clear; the last fetch decides, as for the RTSP warning (camera.Hub).
type snapshotAuth struct {
	mu    sync.Mutex
	basic map[string]bool
}

// note records one fetch: Basic over http sets the warning, a successful
// fetch without it clears it.
func (a *snapshotAuth) note(camera string, basicInClear, ok bool) {
	if !basicInClear && !ok {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.basic == nil {
		a.basic = make(map[string]bool)
	}
	a.basic[camera] = basicInClear
}

func (a *snapshotAuth) warnings(camera string) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.basic[camera] {
		return []string{snapshotBasicWarning}
	}
	return nil
}
