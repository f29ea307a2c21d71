// Package image keeps a user's container images in a local, content-addressed
// store and unpacks them into root filesystems for podbox's sandboxes.
//
// The store is an OCI image layout (blobs/sha256/..., index.json) so that
// standard tools can inspect it, plus a rootfs/ directory of unpacked trees,
// one per image config digest:
//
//	<root>/oci-layout
//	<root>/index.json           one descriptor per reference (ref.name annotation)
//	<root>/blobs/sha256/<hex>   manifests, configs and compressed layers
//	<root>/rootfs/<config-hex>/ the unpacked root filesystem of an image
//	<root>/rootfs/<config-hex>.done  census of the complete tree, for Verify
//	<root>/rootfs/.trash/       removed trees awaiting deletion (see GC)
//	<root>/leases/<holder>.json the images a pod uses (Lease, Release)
//	<root>/locks/<hex>.lock     per-blob flocks: each blob is fetched once
//	<root>/index.lock           flock guarding every index.json and lease update
//	<root>/gc.lock              shared by pulls and unpacks, exclusive for GC
//
// Several podbox processes may use one store at once: blobs are written to a
// temporary name, verified against their digest and renamed into place, the
// index is updated under an flock with an atomic rename, and unpacking is
// serialized per image by an flock, producing a tree that is renamed into
// place only when complete.
//
// Layers are applied in order by this package rather than by
// mutate.Extract, whose flattening mishandles some hard links and whiteouts,
// and every filesystem operation goes through an os.Root so that a hostile
// layer cannot write outside the tree.
package image
