// Package image keeps a user's container images in a local, content-addressed
// store and unpacks them into root filesystems for podbox's sandboxes.
//
// The store is an OCI image layout (blobs/sha256/..., index.json) so that
// standard tools can inspect it, plus unpacked layer snapshots:
//
//	<root>/oci-layout
//	<root>/index.json           one descriptor per reference (ref.name annotation)
//	<root>/blobs/sha256/<hex>   manifests, configs and compressed layers
//	<root>/snapshots/<chain>/   the tree of a chain of layers (<chain> is the hex
//	                            of the OCI chain ID of the layer and those below);
//	                            the snapshot of an image's top layer is its rootfs
//	<root>/snapshots/<chain>.done  census of the complete tree, for Verify
//	<root>/snapshots/<chain>.lock  flock: each snapshot is built once
//	<root>/rootfs/<config-hex>  symlink to ../snapshots/<top chain>, one per
//	                            unpacked image (informational)
//	<root>/trash/               removed trees awaiting deletion (see GC)
//	<root>/tmp/                 OCI archives being loaded, extracted
//	<root>/leases/<holder>.json the images a pod uses (Lease, Release)
//	<root>/locks/<hex>.lock     per-blob flocks: each blob is fetched once
//	<root>/index.lock           flock guarding every index.json and lease update
//	<root>/gc.lock              shared by pulls, loads and unpacks, exclusive for GC
//
// Layers shared between images are stored once (blobs are content-addressed)
// and unpacked once: the snapshot of layer N is made from the snapshot of
// layer N-1 by hard-linking every regular file (no data is copied;
// directories and symbolic links are created anew) and applying layer N on
// top. The unpacker never writes to an inode it did not create in the
// snapshot: a changed file replaces the name with a new inode, and
// directories, the only entries changed in place, are never shared. Two
// images with the same base layers therefore share the base files' inodes,
// and a pod start copies nothing. Snapshots are keyed by chain ID, computed
// from the diff IDs in the image config, and every layer's uncompressed
// stream is checked against its diff ID, so that an image cannot place other
// content in a snapshot another image shares. Limits of the scheme: each
// snapshot costs a directory entry per file and an inode per directory and
// symbolic link (not per file); where a hard link cannot be made (a file with
// too many links, or protected_hardlinks refusing a file of another user
// outside podbox's user namespace) the file is copied instead, which also
// splits hard links between names of that file in the new snapshot; and
// directories of a lower snapshot that their owner cannot read (mode 0000
// outside the user namespace) cannot be cloned, and unpacking fails.
//
// Several podbox processes may use one store at once: blobs are written to a
// temporary name, verified against their digest and renamed into place, the
// index is updated under an flock with an atomic rename, and each snapshot is
// built under an flock in a temporary directory that is renamed into place
// only when complete; GC (exclusive GC lock) removes snapshots no referenced
// or leased image uses, and the leftovers of crashes.
//
// Layers are applied in order by this package rather than by
// mutate.Extract, whose flattening mishandles some hard links and whiteouts,
// and every filesystem operation goes through an os.Root so that a hostile
// layer cannot write outside the tree.
package image
