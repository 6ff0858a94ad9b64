CREATE TABLE "example_vvol_labels" (
	"vvol_id" uuid PRIMARY KEY NOT NULL REFERENCES "virtual_volumes"("id") ON DELETE CASCADE,
	"cost_center" text,
	"labelled_at" timestamp with time zone DEFAULT now() NOT NULL
);
