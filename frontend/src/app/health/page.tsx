"use client";

export default function Page() {
  return <h1>health</h1>;
}
